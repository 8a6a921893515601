#!/usr/bin/env bash
# Builds a runnable Autobahn|Testsuite `wstest` into DIR (default
# target/wstest) for `make conformance`. The suite on PyPI
# (autobahntestsuite 25.10.1) is Python 2 code; this makes a venv with a
# current autobahn/Twisted, converts the suite with lib2to3 and applies the
# edits in port.py. Only `-m fuzzingclient` (testing a server) is used;
# the permessage-deflate cases (12.*, 13.*) are left out, as clawgate
# declines the extension. About 10-20 s; needs python3 with venv and PyPI.
# Usage: scripts/wstest/build.sh DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$(realpath -m "${1:?usage: build.sh DIR}")
mkdir -p "$out"
python3 -m venv "$out/venv" || {
  echo "wstest: python3 -m venv failed (Debian: apt-get install python3-venv)" >&2; exit 1; }
"$out/venv/bin/pip" install -q autobahntestsuite==25.10.1 'autobahn[twisted]==26.10.2' \
  Twisted==26.10.0 pyOpenSSL service_identity jinja2
site=$("$out/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
# A private copy of the package: the installed one stays untouched and is
# removed, so nothing imports the Python 2 original by mistake.
rm -rf "$out/lib" && mkdir -p "$out/lib"
cp -r "$site/autobahntestsuite" "$out/lib/"
"$out/venv/bin/pip" uninstall -q -y autobahntestsuite
find "$out/lib" -name __pycache__ -prune -exec rm -rf {} +
"$out/venv/bin/python" -W ignore -m lib2to3 -w -n -j 2 "$out/lib/autobahntestsuite" > "$out/2to3.log" 2>&1
"$out/venv/bin/python" "$here/port.py" "$out/lib/autobahntestsuite"
cat > "$out/wstest" <<SH
#!/bin/sh
PYTHONPATH="$out/lib" exec "$out/venv/bin/python" -c 'import sys; sys.argv[0] = "wstest"; from autobahntestsuite import wstest; wstest.run()' "\$@"
SH
chmod +x "$out/wstest"
echo "wstest: built $out/wstest"
