"""The guide's transform_user_data as an RQ job function."""


def transform(u):
    return {"id": u.get("id"), "username": u.get("username", "").lower(),
            "email": u.get("email", "").lower(), "created_at": u.get("created_at"),
            "display_name": u.get("full_name") or u.get("username")}
