#!/usr/bin/python3
"""Reads and applies the mutant files of tests/mutants (format in README.md).

    mutant.py field FILE KEY     prints a header field ('' when absent)
    mutant.py check FILE ROOT    exit 0 if every find text occurs exactly once
                                 under ROOT, else 3 with the reason (STALE)
    mutant.py apply FILE ROOT    the same check, then writes the replacements

Exit codes: 0 ok, 2 the mutant file itself is malformed, 3 stale."""
import os
import sys

HEADER_KEYS = ("description", "pytest", "ctest")


class Malformed(Exception):
    pass


def parse(path):
    """Returns (headers, edits): edits is a list of (file, find, replace)."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    headers, edits, i = {}, [], 0
    while i < len(lines) and not lines[i].startswith("@@ "):
        ln = lines[i]
        i += 1
        if not ln.strip() or ln.startswith("#"):
            continue
        key, sep, value = ln.partition(":")
        if not sep or key.strip() not in HEADER_KEYS:
            raise Malformed(f"line {i}: expected one of {', '.join(HEADER_KEYS)}: ...")
        headers[key.strip()] = value.strip()
    while i < len(lines):
        if not lines[i].startswith("@@ "):
            raise Malformed(f"line {i + 1}: expected '@@ path'")
        target = lines[i][3:].strip()
        i += 1
        if i >= len(lines) or lines[i] != "<<<<":
            raise Malformed(f"line {i + 1}: expected '<<<<' after '@@ {target}'")
        i += 1
        find = []
        while i < len(lines) and lines[i] != "====":
            find.append(lines[i])
            i += 1
        if i >= len(lines):
            raise Malformed(f"'@@ {target}': no '====' line")
        i += 1
        repl = []
        while i < len(lines) and lines[i] != ">>>>":
            repl.append(lines[i])
            i += 1
        if i >= len(lines):
            raise Malformed(f"'@@ {target}': no '>>>>' line")
        i += 1
        while i < len(lines) and not lines[i].strip():
            i += 1
        if not find or not "".join(find).strip():
            raise Malformed(f"'@@ {target}': empty find text")
        edits.append((target, "\n".join(find), "\n".join(repl)))
    if not headers.get("description"):
        raise Malformed("no description")
    if not headers.get("pytest") and not headers.get("ctest"):
        raise Malformed("neither a pytest nor a ctest selection")
    if not edits:
        raise Malformed("no edit (@@ path, <<<<, ====, >>>>)")
    return headers, edits


def plan(path, root):
    """The new contents of each file, or raises LookupError (stale)."""
    _, edits = parse(path)
    texts = {}
    for target, find, repl in edits:
        full = os.path.join(root, target)
        if target not in texts:
            if not os.path.isfile(full):
                raise LookupError(f"{target}: no such file")
            with open(full, encoding="utf-8") as f:
                texts[target] = f.read()
        n = texts[target].count(find)
        if n != 1:
            first = find.split("\n", 1)[0].strip()
            raise LookupError(f"{target}: find text occurs {n} times, not once "
                              f"(it begins {first!r})")
        texts[target] = texts[target].replace(find, repl)
    return texts


def main(argv):
    if len(argv) < 3 or argv[0] not in ("field", "check", "apply"):
        print(__doc__, file=sys.stderr)
        return 2
    try:
        if argv[0] == "field":
            headers, _ = parse(argv[1])
            print(headers.get(argv[2], ""))
            return 0
        texts = plan(argv[1], argv[2])
    except Malformed as e:
        print(f"{argv[1]}: malformed: {e}", file=sys.stderr)
        return 2
    except LookupError as e:
        print(str(e), file=sys.stderr)
        return 3
    if argv[0] == "apply":
        for target, text in texts.items():
            with open(os.path.join(argv[2], target), "w", encoding="utf-8") as f:
                f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
