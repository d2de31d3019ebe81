#!/usr/bin/env python3
"""check_layers.py: the server folders form a one-way stack (docs/ARCHITECTURE.md).

Every #include "folder/file.h" in servers/ must point to a folder of a lower
rank (or the same folder). Unit tests (any tests/ folder) may reach across
layers and are not checked. Exit 1 with one line per upward edge; exit 0
when the graph has none. --self-test checks the checker on a made-up tree.

  /usr/bin/python3 servers/tests/check_layers.py [SERVERS_DIR | --self-test]
"""
import pathlib
import re
import sys
import tempfile

# Lower numbers are lower layers. protocol and event share a rank but may not
# include each other: they are independent halves of the same level.
RANK = {
    "common": 0,
    "protocol": 1,
    "event": 1,
    "session": 2,
    "fiber": 3,
    "fuzz": 3,
    "models": 4,
    "backend": 4,
    "": 5,  # servers/main.cpp and the TSan suppressions
}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([a-z_]+)/[^"]+"', re.M)


def folder_of(path, root):
    parts = path.relative_to(root).parts
    return parts[0] if len(parts) > 1 else ""


def upward_edges(root):
    for path in sorted(root.rglob("*")):
        if path.suffix not in (".h", ".cpp") or "tests" in path.relative_to(root).parts[1:-1]:
            continue
        here = folder_of(path, root)
        if here == "tests":
            continue  # servers/tests: unit tests of several layers
        for target in INCLUDE.findall(path.read_text()):
            if target not in RANK or target == here:
                continue
            if RANK[target] >= RANK[here]:
                yield f"{path.relative_to(root)}: includes {target}/ (rank {RANK[target]}) from {here or 'main'}/ (rank {RANK[here]})"


def self_test():
    """An upward edge is reported, a downward one and a test's are not."""
    with tempfile.TemporaryDirectory() as tmp:
        root = pathlib.Path(tmp)
        files = {
            "common/a.h": '#include "session/b.h"\n',  # upward: must be found
            "session/b.h": '#include "common/a.h"\n',
            "session/tests/t.cpp": '#include "models/m.h"\n',
            "models/m.h": '#include "session/b.h"\n',
        }
        for name, text in files.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(text)
        edges = list(upward_edges(root))
    ok = len(edges) == 1 and edges[0].startswith("common/a.h")
    print("self-test:", "ok" if ok else f"FAILED, got {edges}")
    return 0 if ok else 1


def main():
    if sys.argv[1:] == ["--self-test"]:
        return self_test()
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).parents[1])
    unknown = sorted({folder_of(p, root) for p in root.rglob("*.h")} - set(RANK) - {"tests"})
    edges = list(upward_edges(root))
    for folder in unknown:
        print(f"servers/{folder}/ has no rank in check_layers.py: give it one")
    for edge in edges:
        print(edge)
    return 1 if edges or unknown else 0


if __name__ == "__main__":
    sys.exit(main())
