#!/usr/bin/env python3
"""Checks a coach corpus file: every line parses, ids match the canonical input hash, labels are
consistent with the policy table, no duplicates (also against an optional other split)."""
import json
import sys

sys.path.insert(0, __import__("os").path.dirname(__file__))
from common import case_id  # noqa: E402

SEV = {"block": {"critical"}, "approve": {"high", "medium"}, "allow": {None, "low"}}
KEYS = ["id", "input", "expect", "category", "min_severity", "source", "alt_categories", "note"]


def load(path):
    out = []
    for n, line in enumerate(open(path, encoding="utf-8"), 1):
        d = json.loads(line)
        assert list(d) == KEYS, (path, n, list(d))
        assert d["id"] == case_id(d["input"]), (path, n)
        assert d["min_severity"] in SEV[d["expect"]], (path, n)
        assert (d["category"] is None) == (d["min_severity"] is None), (path, n)
        assert d["source"], (path, n)
        out.append(d)
    return out


def main():
    cases = load(sys.argv[1])
    ids = [c["id"] for c in cases]
    assert len(ids) == len(set(ids)), "duplicate ids"
    for other in sys.argv[2:]:
        clash = set(ids) & {c["id"] for c in load(other)}
        assert not clash, ("shared with", other, sorted(clash)[:5])
    print("ok", len(cases), "cases")


if __name__ == "__main__":
    main()
