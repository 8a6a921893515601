"""Shared helpers for the coach corpus generator: ids, case records, deterministic picks.

The corpus is data for scoring the security coach; nothing it contains is ever executed.
"""
import hashlib
import json
import random

# Deterministic: the same mirrors give the same corpus, so ids and labels stay stable.
RNG = random.Random(19)


def case_id(inp):
    canon = json.dumps(inp, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "c-" + hashlib.sha256(canon.encode("utf-8")).hexdigest()[:10]


def case(inp, expect, category, sev, source, alt=None, note=""):
    if isinstance(inp, str):
        inp = {"command": inp}
    assert expect in ("block", "approve", "allow"), expect
    if expect == "block":
        assert sev == "critical", (inp, sev)
    elif expect == "approve":
        assert sev in ("high", "medium"), (inp, sev)
    else:
        assert sev in (None, "low"), (inp, sev)
        assert (category is None) == (sev is None), inp
    return {
        "id": case_id(inp),
        "input": inp,
        "expect": expect,
        "category": category,
        "min_severity": sev,
        "source": source,
        "alt_categories": alt or [],
        "note": note,
    }


def pick(seq):
    return RNG.choice(seq)


def hashpick(seq, key):
    """Pick by a stable hash of `key`, so one placeholder gets one value per command."""
    h = int(hashlib.sha256(key.encode()).hexdigest(), 16)
    return seq[h % len(seq)]


# Placeholder hosts: reserved or fictional only (TEST-NET ranges, .example, evil.com-style names).
EVIL_HOSTS = [
    "203.0.113.7", "198.51.100.23", "203.0.113.66", "c2.evil.example", "attacker.com",
    "update-check.example.net", "203.0.113.141", "198.51.100.77", "relay.badhost.example",
    "45.ex4mple.example", "10.13.37.5",
]
PORTS = ["4444", "443", "9001", "1337", "8443", "53", "12345", "4242", "8080", "31337"]
