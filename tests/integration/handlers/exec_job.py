"""An exec command for test_user_handlers: what it does is in its args
(args as JSON on stdin, result as JSON on stdout)."""
import json
import os
import subprocess
import sys
import time

a = json.load(sys.stdin)
do = a.get("do", "ok")
if a.get("pidfile"):
    with open(a["pidfile"], "w") as f:
        f.write(f"{os.getpid()} {os.getpgid(0)}")
if do == "ok":
    open_fds = []
    for fd in range(3, 1024):
        try:
            os.fstat(fd)
            open_fds.append(fd)
        except OSError:
            pass
    print(json.dumps({"args": a, "env": sorted(os.environ), "fds": open_fds}))
elif do == "exit":
    print("x" * 3000 + "\n" + a["message"], file=sys.stderr)  # only the tail counts
    sys.exit(a["code"])
elif do == "hang":
    # a descendant in the same group, then no end
    subprocess.Popen(["sleep", "3600"])
    time.sleep(3600)
elif do == "huge":
    sys.stdout.write("[" + "1," * (1 << 20) + "1]")
    sys.stdout.flush()
    time.sleep(3600)  # killed for the size, not at the limit
elif do == "text":
    print("this is not json")
elif do == "deep":
    print("[" * a["n"] + "]" * a["n"])
elif do == "nul":
    print(json.dumps({"s": "a\u0000b"}))
elif do == "slow":
    time.sleep(a["ms"] / 1000)
    print(json.dumps({"slept": a["ms"]}))
