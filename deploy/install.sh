#!/usr/bin/env bash
# Installs HAL-O-SWARM as systemd services on a Debian/Ubuntu host.
#   sudo deploy/install.sh [supervisor|agent|split]   (default: supervisor)
# supervisor = all services in one process (hal-supervisor) with an embedded nats-server
# agent      = hal-agent only (a host running opencode)
# split      = one unit per service (gateway, tracker, cost-poller, policy) against nats.url
set -euo pipefail

ROLE="${1:-supervisor}"
PREFIX=/opt/hal-o-swarm
ETC=/etc/hal-o-swarm
STATE=/var/lib/hal-o-swarm
SRC="$(cd "$(dirname "$0")/.." && pwd)"

[[ $EUID -eq 0 ]] || { echo "install.sh: run as root (sudo)" >&2; exit 1; }
command -v node >/dev/null || { echo "install.sh: Node 20.19+ is required" >&2; exit 1; }
case "$ROLE" in supervisor|agent|split) ;; *) echo "usage: install.sh [supervisor|agent|split]" >&2; exit 2;; esac

if [[ "$ROLE" != agent ]] && ! command -v nats-server >/dev/null; then
  apt-get update && apt-get install -y nats-server
fi

id hal >/dev/null 2>&1 || useradd --system --home-dir "$STATE" --shell /usr/sbin/nologin hal
install -d -o root -g root -m 0755 "$PREFIX"
install -d -o root -g hal -m 0750 "$ETC"
install -d -o hal -g hal -m 0750 "$STATE"

# Copy the tree (not node_modules/dist/.hal), build, then drop the dev dependencies.
tar -C "$SRC" --exclude=node_modules --exclude=dist --exclude=.hal --exclude=.git -cf - . | tar -C "$PREFIX" -xf -
(cd "$PREFIX" && npm ci --no-audit --no-fund && npm run build && npm prune --omit=dev --no-audit --no-fund)

# A first config with a random token; an existing one is never overwritten.
if [[ "$ROLE" != agent && ! -f "$ETC/supervisor.config.json" ]]; then
  umask 027
  head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$ETC/auth_token"
  printf '{\n  "data_dir": "%s/data",\n  "server": { "auth_token_file": "%s/auth_token" }\n}\n' "$STATE" "$ETC" \
    > "$ETC/supervisor.config.json"
  chgrp hal "$ETC/auth_token" "$ETC/supervisor.config.json"
  echo "install.sh: wrote $ETC/supervisor.config.json; the token is in $ETC/auth_token"
fi
if [[ "$ROLE" == agent && ! -f "$ETC/agent.config.json" ]]; then
  echo "install.sh: write $ETC/agent.config.json (supervisor_url, auth_token_file, projects) before starting hal-agent" >&2
fi

case "$ROLE" in
  supervisor) UNITS=(hal-supervisor) ;;
  agent) UNITS=(hal-agent) ;;
  split) UNITS=(hal-gateway hal-tracker hal-cost-poller hal-policy) ;;
esac
for unit in "${UNITS[@]}"; do
  install -m 0644 "$SRC/deploy/$unit.service" "/etc/systemd/system/$unit.service"
done
if [[ "$ROLE" != agent ]] && ! node "$PREFIX/services/supervisor/bin/hal-supervisor.js" \
    --config "$ETC/supervisor.config.json" --validate >/dev/null; then
  echo "install.sh: $ETC/supervisor.config.json is invalid (problems above); fix it, then: systemctl enable --now ${UNITS[*]}" >&2
  exit 1
fi
systemctl daemon-reload
if [[ "$ROLE" == agent && ! -f "$ETC/agent.config.json" ]]; then
  echo "install.sh: units installed but not started; then run: systemctl enable --now hal-agent"
  exit 0
fi
systemctl enable --now "${UNITS[@]}"
echo "install.sh: installed ${UNITS[*]}; check with: systemctl status ${UNITS[*]}"
