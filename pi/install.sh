#!/usr/bin/env bash
# Installs or upgrades clawgate. Idempotent: run it again to upgrade.
#
#   install.sh [--root DIR] [--no-systemctl] [--prefix /opt/clawgate] SRC_DIR
#
# SRC_DIR holds clawgate, clawgate.service and clawgate.example.json.
# --root DIR      install under DIR instead of / (tests; no user is created)
# --no-systemctl  do not talk to systemd (tests, containers)
#
# Upgrade safety: the new binary is copied beside the old one and must pass
# `--check-config` with the installed config before it replaces it; if the
# service does not come healthy (GET /healthz) the previous binary is
# restored and the service restarted on it.
set -euo pipefail

ROOT=""
SYSTEMCTL=1
PREFIX="${PI_DIR:-/opt/clawgate}"
SRC=""
while [ $# -gt 0 ]; do
  case "$1" in
    --root) ROOT="${2%/}"; shift 2 ;;
    --no-systemctl) SYSTEMCTL=0; shift ;;
    --prefix) PREFIX="$2"; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) SRC="$1"; shift ;;
  esac
done
[ -n "$SRC" ] || { echo "install.sh: missing SRC_DIR (see --help)" >&2; exit 2; }
for f in clawgate clawgate.service clawgate.example.json; do
  [ -f "$SRC/$f" ] || { echo "install.sh: $SRC/$f is missing" >&2; exit 2; }
done

BIN_DIR="$ROOT$PREFIX"
CONF_DIR="$ROOT/etc/clawgate"
CONF="$CONF_DIR/clawgate.json"
UNIT_DIR="$ROOT/etc/systemd/system"
HEALTH_WAIT_S="${HEALTH_WAIT_S:-15}"
say() { echo "install.sh: $*"; }

# 1. User and directories.
if [ -z "$ROOT" ]; then
  id clawgate >/dev/null 2>&1 || useradd --system --home-dir /var/lib/clawgate --shell /usr/sbin/nologin clawgate
  OWNER=(-o clawgate -g clawgate)
  GROUP=(-g clawgate)
else
  say "--root: not creating the clawgate user"
  OWNER=(); GROUP=()
fi
install -d -m 0755 "$BIN_DIR" "$CONF_DIR" "$UNIT_DIR"

# 2. Config: never overwrite an operator's.
if [ -f "$CONF" ]; then
  say "keeping existing $CONF"
else
  install -m 0640 "${GROUP[@]}" "$SRC/clawgate.example.json" "$CONF"
  say "installed example config to $CONF"
fi

# 3. The new binary beside the old one, checked against the installed config.
install -m 0755 "$SRC/clawgate" "$BIN_DIR/clawgate.new"
if ! CHECK=$("$BIN_DIR/clawgate.new" --check-config --config "$CONF" 2>&1); then
  rm -f "$BIN_DIR/clawgate.new"
  echo "install.sh: the new binary refuses $CONF; nothing changed:" >&2
  echo "$CHECK" >&2
  exit 1
fi
json_get() { # key path in the --check-config JSON, e.g. worstCaseMemory.totalBytes
  if command -v python3 >/dev/null; then
    printf '%s' "$CHECK" | python3 -c 'import json,sys
d=json.loads(sys.stdin.read().split("\nworst-case")[0])
for k in sys.argv[1].split("."): d=d[k]
print(d)' "$1"
  else
    printf '%s' "$CHECK" | sed -n "s/.*\"${1##*.}\": \"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}$/\1/p" | head -n1
  fi
}
DATA_DIR=$(json_get config.server.dataDir)
PORT=$(json_get config.server.port)
BIND=$(json_get config.server.bind)
TOTAL=$(json_get worstCaseMemory.totalBytes)
CHILDREN=$(json_get worstCaseMemory.childrenBytes)
EXEC_PROCS=$(json_get config.exec.maxProcesses)
EXEC_GROUP=$(json_get config.exec.maxGroupProcesses)
install -d -m 0700 "${OWNER[@]}" "$ROOT$DATA_DIR"

# 4. Unit and limits derived from the config's worst case.
sed "s#/opt/clawgate#$PREFIX#g" "$SRC/clawgate.service" > "$UNIT_DIR/clawgate.service.tmp"
mv -f "$UNIT_DIR/clawgate.service.tmp" "$UNIT_DIR/clawgate.service"
chmod 0644 "$UNIT_DIR/clawgate.service"
# The gateway's worst case +25% (allocator slack, cgroup-charged socket
# memory), plus what exec's children may use: they share the unit's cgroup.
MEM_MAX=$(( TOTAL * 5 / 4 / 1048576 + 1 + CHILDREN / 1048576 ))
CORES=$(nproc 2>/dev/null || echo 4)
# The loop, the worker pool (cores-1), headroom, and exec's children: the
# kernel's own cap on a fork loop, beside exec.maxGroupProcesses.
[ "$EXEC_GROUP" -gt 0 ] 2>/dev/null || EXEC_GROUP=64
TASKS_MAX=$(( CORES + 8 + EXEC_PROCS * EXEC_GROUP ))
PROTECT_HOME=yes
case "$DATA_DIR" in /home/*|/root/*) PROTECT_HOME=no ;; esac
install -d -m 0755 "$UNIT_DIR/clawgate.service.d"
cat > "$UNIT_DIR/clawgate.service.d/limits.conf" <<CONF
# Written by install.sh from \`clawgate --check-config\`; re-run it after editing the config.
[Service]
MemoryMax=${MEM_MAX}M
TasksMax=${TASKS_MAX}
ReadWritePaths=${DATA_DIR}
ProtectHome=${PROTECT_HOME}
CONF
chmod 0644 "$UNIT_DIR/clawgate.service.d/limits.conf"

# 5. Switch binaries, keeping the previous one for rollback.
if [ -f "$BIN_DIR/clawgate" ]; then
  cp -p "$BIN_DIR/clawgate" "$BIN_DIR/clawgate.prev"
fi
mv -f "$BIN_DIR/clawgate.new" "$BIN_DIR/clawgate"
say "binary $BIN_DIR/clawgate ($("$BIN_DIR/clawgate" --version)), MemoryMax=${MEM_MAX}M TasksMax=${TASKS_MAX}"

[ "$SYSTEMCTL" = 1 ] || { say "--no-systemctl: not starting the service"; exit 0; }

healthy() {
  local host="$BIND"; [ "$host" = "0.0.0.0" ] && host=127.0.0.1; [ "$host" = "::" ] && host=::1
  local i
  for i in $(seq 1 "$HEALTH_WAIT_S"); do
    if command -v curl >/dev/null; then
      curl -fsS --max-time 2 "http://$host:$PORT/healthz" >/dev/null 2>&1 && return 0
    else
      (exec 3<>"/dev/tcp/$host/$PORT" && printf 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n' >&3 \
        && head -n1 <&3 | grep -q ' 200 ') 2>/dev/null && return 0
    fi
    sleep 1
  done
  return 1
}

systemctl daemon-reload
systemctl enable clawgate >/dev/null
systemctl restart clawgate
if healthy; then
  say "clawgate is healthy on $BIND:$PORT; token in $DATA_DIR/token unless configured"
  exit 0
fi
echo "install.sh: clawgate did not come healthy on $BIND:$PORT within ${HEALTH_WAIT_S}s" >&2
journalctl -u clawgate -n 20 --no-pager >&2 || true
if [ -f "$BIN_DIR/clawgate.prev" ]; then
  echo "install.sh: rolling back to the previous binary" >&2
  mv -f "$BIN_DIR/clawgate.prev" "$BIN_DIR/clawgate"
  systemctl restart clawgate
  healthy && echo "install.sh: previous version is running again" >&2
fi
exit 1
