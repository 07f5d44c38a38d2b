#!/usr/bin/env bash
# Stops and removes the HAL-O-SWARM units and program files. Config (/etc/hal-o-swarm) and data
# (/var/lib/hal-o-swarm) are kept unless --purge is given: the event log is not thrown away by accident.
set -euo pipefail
[[ $EUID -eq 0 ]] || { echo "uninstall.sh: run as root (sudo)" >&2; exit 1; }

for unit in hal-supervisor hal-agent hal-gateway hal-tracker hal-cost-poller hal-policy; do
  if [[ -f "/etc/systemd/system/$unit.service" ]]; then
    systemctl disable --now "$unit" || true
    rm -f "/etc/systemd/system/$unit.service"
  fi
done
systemctl daemon-reload
rm -rf /opt/hal-o-swarm
if [[ "${1:-}" == --purge ]]; then
  rm -rf /etc/hal-o-swarm /var/lib/hal-o-swarm
  userdel hal 2>/dev/null || true
  echo "uninstall.sh: removed program, config, data and the hal user"
else
  echo "uninstall.sh: removed program and units; kept /etc/hal-o-swarm and /var/lib/hal-o-swarm (use --purge to delete)"
fi
