#!/usr/bin/env python3
"""Builds tests/data/coach/corpus.jsonl from public technique references and authored cases.

Usage: scripts/coach-corpus/build.py --gtfobins DIR --tldr DIR [--dev DEV.jsonl] [--out FILE]
  DIR arguments are checkouts (or `git archive` extracts) of GTFOBins/GTFOBins.github.io and
  tldr-pages/tldr. --dev names an existing split whose ids must not be repeated.
The output is data for scoring the coach: nothing in it is ever executed.
"""
import argparse
import collections
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import authored  # noqa: E402
import gtfobins  # noqa: E402
import sigma  # noqa: E402
import social  # noqa: E402
import tldr  # noqa: E402
from common import RNG, case_id  # noqa: E402

CATS = {"data-exfiltration", "privilege-escalation", "destructive-operation", "network-suspicious",
        "credential-exposure", "social-engineering", "code-injection", "persistence-mechanism", "reconnaissance"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gtfobins", required=True)
    ap.add_argument("--tldr", required=True)
    ap.add_argument("--dev")
    ap.add_argument("--tldr-count", type=int, default=560)
    ap.add_argument("--out", default="tests/data/coach/corpus.jsonl")
    a = ap.parse_args()

    seen = set()
    if a.dev:
        for line in open(a.dev, encoding="utf-8"):
            seen.add(json.loads(line)["id"])
    dev_ids = set(seen)
    cases = []
    dropped = collections.Counter()
    # Authored and Sigma first: where a generated case collides, the deliberate label wins.
    for src, cs in (("authored", authored.generate()), ("sigma", sigma.generate()), ("social", social.generate()),
                    ("gtfobins", gtfobins.sampled(a.gtfobins, RNG)), ("tldr", tldr.generate(a.tldr, RNG, a.tldr_count))):
        for c in cs:
            assert c["id"] == case_id(c["input"])
            assert c["category"] is None or c["category"] in CATS, c
            assert all(x in CATS for x in c["alt_categories"]), c
            if c["id"] in seen:
                dropped["dev" if c["id"] in dev_ids else src] += 1
                continue
            seen.add(c["id"])
            cases.append(c)
    # Cases written later for kinds the coach learned (each with benign
    # look-alikes), and labels settled later by the written policy.
    here = os.path.dirname(os.path.abspath(__file__))
    for line in open(os.path.join(here, "added.jsonl"), encoding="utf-8"):
        c = json.loads(line)
        assert c["id"] == case_id(c["input"])
        if c["id"] not in seen:
            seen.add(c["id"])
            cases.append(c)
    relabels = json.load(open(os.path.join(here, "relabels.json"), encoding="utf-8"))
    for c in cases:
        c.update(relabels.get(c["id"], {}))
    with open(a.out, "w", encoding="utf-8") as f:
        for c in cases:
            f.write(json.dumps(c, ensure_ascii=False) + "\n")
    n = len(cases)
    ex = collections.Counter(c["expect"] for c in cases)
    print("cases", n, dict(ex), "allow %.1f%%" % (100.0 * ex["allow"] / n), "dropped duplicates", dict(dropped))


if __name__ == "__main__":
    main()
