#!/usr/bin/env bash
# Installs or upgrades clawgate on the Pi. Idempotent: run it again to upgrade.
# Usage: sudo PI_DIR=/opt/clawgate bash install.sh DIR_WITH_FILES
#   DIR_WITH_FILES holds clawgate, clawgate.service, clawgate.example.json.
set -euo pipefail
SRC="${1:-.}"
PI_DIR="${PI_DIR:-/opt/clawgate}"
CONF_DIR=/etc/clawgate
DATA_DIR=/var/lib/clawgate

id clawgate >/dev/null 2>&1 || useradd --system --home-dir "$DATA_DIR" --shell /usr/sbin/nologin clawgate
install -d -m 0755 "$PI_DIR" "$CONF_DIR"
install -d -m 0700 -o clawgate -g clawgate "$DATA_DIR"
install -m 0755 "$SRC/clawgate" "$PI_DIR/clawgate.new"
mv -f "$PI_DIR/clawgate.new" "$PI_DIR/clawgate"
# Never overwrite an operator's config.
[ -f "$CONF_DIR/clawgate.json" ] || install -m 0640 -g clawgate "$SRC/clawgate.example.json" "$CONF_DIR/clawgate.json"
"$PI_DIR/clawgate" --check-config --config "$CONF_DIR/clawgate.json" > /tmp/clawgate-check.json

sed "s#/opt/clawgate#$PI_DIR#g" "$SRC/clawgate.service" > /etc/systemd/system/clawgate.service
# MemoryMax: the config's worst case + 25% headroom (allocator, kernel-side
# socket memory is not charged to RSS but is to the cgroup).
total=$(python3 -c 'import json,sys;print(json.load(open("/tmp/clawgate-check.json"))["worstCaseMemory"]["totalBytes"])' 2>/dev/null \
  || sed -n 's/.*"totalBytes": \([0-9]*\).*/\1/p' /tmp/clawgate-check.json)
mem_max=$(( total * 5 / 4 / 1048576 + 1 ))
install -d /etc/systemd/system/clawgate.service.d
printf '[Service]\nMemoryMax=%sM\n' "$mem_max" > /etc/systemd/system/clawgate.service.d/limits.conf
systemctl daemon-reload
systemctl enable clawgate >/dev/null
systemctl restart clawgate
sleep 1
systemctl --no-pager --lines=5 status clawgate || true
echo "clawgate installed: MemoryMax=${mem_max}M; token in $DATA_DIR/token (if none configured)"
