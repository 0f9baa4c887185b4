"""The guide's operations as RQ job functions: transform_user_data, an I/O
wait and argon2id password hashing (libsodium, as jobq); and sum_squares,
the very function the example Python runner serves (bench/user_handlers.py
puts the two side by side)."""
import os
import sys
import time

import nacl.pwhash


def transform(u):
    return {"id": u.get("id"), "username": u.get("username", "").lower(),
            "email": u.get("email", "").lower(), "created_at": u.get("created_at"),
            "display_name": u.get("full_name") or u.get("username")}


def sleep(ms):
    time.sleep(ms / 1000)


def hash_password(password):
    return nacl.pwhash.argon2id.str(password.encode(),
                                    opslimit=nacl.pwhash.argon2id.OPSLIMIT_INTERACTIVE,
                                    memlimit=nacl.pwhash.argon2id.MEMLIMIT_INTERACTIVE)


sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..",
                                "examples", "runners", "python"))
import example  # noqa: E402


def sum_squares(args):
    return example.sum_squares(args, None)
