#!/usr/bin/env bash
# Runs Autobahn|Testsuite (fuzzingclient) against the gateway's WebSocket layer
# in echo mode and compares the outcome per case with conformance/autobahn-summary.json.
# Usage: scripts/autobahn.sh [--update]   (--update rewrites the checked-in summary)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
TARGET=$(target_dir)
WSTEST_DIR=$(realpath -m "${WSTEST_DIR:-$TARGET/wstest}")
# Our own runnable build of the suite (scripts/wstest/), made once.
[ -x "$WSTEST_DIR/wstest" ] || bash scripts/wstest/build.sh "$WSTEST_DIR" >/dev/null
cargo build --release -q
work=$(mktemp -d)
trap 'kill $gw_pid 2>/dev/null || true; rm -rf "$work"' EXIT
"$TARGET/release/clawgate" --config conformance/echo.json --data-dir "$work/data" > "$work/out" 2> "$work/err" &
gw_pid=$!
for _ in $(seq 1 200); do grep -q "listening on" "$work/out" && break; sleep 0.05; done
url=$(sed -n 's/.*listening on \(ws:\/\/[^ ]*\).*/\1/p' "$work/out")
[ -n "$url" ] || { echo "gateway did not start"; cat "$work/err"; exit 1; }
cat > "$work/spec.json" <<SPEC
{"outdir": "$work/reports", "servers": [{"agent": "clawgate", "url": "$url"}],
 "cases": ["*"], "exclude-cases": ["12.*", "13.*"], "exclude-agent-cases": {}}
SPEC
(cd "$work" && "$WSTEST_DIR/wstest" -m fuzzingclient -s spec.json > wstest.log 2>&1) || { tail -20 "$work/wstest.log"; exit 1; }
python3 - "$work/reports/index.json" conformance/autobahn-summary.json "${1:-}" <<'PY'
import json, sys, collections
index, summary_path, mode = sys.argv[1], sys.argv[2], sys.argv[3]
cases = json.load(open(index))["clawgate"]
got = {k: v["behavior"] for k, v in cases.items()}
counts = collections.Counter(got.values())
print("autobahn:", ", ".join(f"{n} {b}" for b, n in sorted(counts.items())), f"of {len(got)} cases")
ok = {"OK", "NON-STRICT", "INFORMATIONAL"}
bad = {k: v for k, v in got.items() if v not in ok}
if mode == "--update":
    json.dump({"counts": dict(counts), "cases": dict(sorted(got.items()))}, open(summary_path, "w"), indent=1, sort_keys=True)
    print("wrote", summary_path)
else:
    want = json.load(open(summary_path))["cases"]
    rank = {"OK": 0, "NON-STRICT": 1, "INFORMATIONAL": 1, "UNIMPLEMENTED": 2, "FAILED": 3}
    regressed = {k: (want.get(k), v) for k, v in got.items() if rank.get(v, 3) > rank.get(want.get(k, "OK"), 0)}
    if regressed:
        print("regressed:", regressed); sys.exit(1)
if bad:
    print("not OK/NON-STRICT/INFORMATIONAL:", bad); sys.exit(1)
PY
