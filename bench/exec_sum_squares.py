"""sum_squares as an exec command: the example runner's function, run once
per job (args as JSON on stdin, result as JSON on stdout)."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                "examples", "runners", "python"))
from example import sum_squares  # noqa: E402

print(json.dumps(sum_squares(json.load(sys.stdin), None)))
