#!/usr/bin/env bash
# `make test`: runs every test binary even when one fails (--no-fail-fast),
# then one closing line over all of them: "N passed, N failed, N skipped".
# Skipped counts #[ignore]d tests and tests that printed `SKIPPED:` because
# their real client is missing and CLAWGATE_ALLOW_MISSING_CLIENTS=1 allowed
# it (without that variable such a test fails with its install hint).
# Usage: scripts/test.sh [cargo test args...]
set -uo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --no-fail-fast "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
awk '/^test result:/ { for (i = 1; i <= NF; i++) {
       if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i; if ($(i+1) ~ /^ignored/) s += $i } }
     /SKIPPED:/ { s++ }
     END { printf "%d passed, %d failed, %d skipped\n", p, f, s }' "$log"
exit "$status"
