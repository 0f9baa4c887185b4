"""A runner that dies as soon as it starts: the crash-loop test."""
import sys

print("starting, and failing at once", file=sys.stderr)
sys.exit(3)
