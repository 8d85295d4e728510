#!/usr/bin/python3
# tests/reference/sync_tools.py — makes tools/pcnn-import and tools/pcnn-export from their
# sources here (tool_import.py, tool_export.py) with the modelfile block of modelfile.py
# pasted in at "# @@MODELFILE@@", so the installed scripts need no helper module.
# `make modelfile-sync` runs it; tests/bats/import.bats checks the tools are up to date.
#
#   /usr/bin/python3 tests/reference/sync_tools.py [--check]
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PAIRS = [("tool_import.py", "pcnn-import"), ("tool_export.py", "pcnn-export")]


def block():
    text = open(os.path.join(HERE, "modelfile.py")).read()
    a = text.index("# ---- BEGIN pcnn modelfile ----")
    b = text.index("# ---- END pcnn modelfile ----")
    return text[a:b] + "# ---- END pcnn modelfile ----\n"


def main():
    check = "--check" in sys.argv[1:]
    stale = 0
    for src, dst in PAIRS:
        text = open(os.path.join(HERE, src)).read()
        out = text.replace("# @@MODELFILE@@\n", block())
        path = os.path.join(ROOT, "tools", dst)
        old = open(path).read() if os.path.exists(path) else None
        if old == out:
            continue
        if check:
            print("tools/%s is out of date: run make modelfile-sync" % dst)
            stale += 1
            continue
        with open(path, "w") as f:
            f.write(out)
        os.chmod(path, 0o755)
        print("wrote tools/%s" % dst)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
