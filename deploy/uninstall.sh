#!/usr/bin/env bash
# Removes what deploy/install.sh added: the units (stopped and disabled first), the releases under
# the prefix, the halctl wrapper and the nats-server mask. Config (/etc/hal-o-swarm) and data
# (/var/lib/hal-o-swarm, with the JetStream store and every SQLite file) are kept unless --purge:
# an event log is never thrown away by accident.
#
#   sudo deploy/uninstall.sh [--purge] [--prefix DIR] [--root DIR] [--dry-run]
set -euo pipefail

ROOT=""
PREFIX=/opt/hal-o-swarm
PURGE=0
DRY_RUN=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --purge) PURGE=1 ;;
    --dry-run) DRY_RUN=1 ;;
    --prefix) PREFIX="${2:?--prefix needs a directory}"; shift ;;
    --root) ROOT="${2:?--root needs a directory}"; shift ;;
    -h | --help)
      echo "usage: uninstall.sh [--purge] [--prefix DIR] [--root DIR] [--dry-run]"
      exit 0
      ;;
    *)
      echo "usage: uninstall.sh [--purge] [--prefix DIR] [--root DIR] [--dry-run]" >&2
      exit 2
      ;;
  esac
  shift
done
[[ $EUID -eq 0 || $DRY_RUN -eq 1 ]] || { echo "uninstall.sh: run as root (sudo)" >&2; exit 1; }
if [[ -n $ROOT ]]; then
  ROOT="$(cd "$ROOT" && pwd)"
fi

run() {
  if [[ $DRY_RUN -eq 1 ]]; then
    echo "+ $*"
  else
    "$@"
  fi
}
SYSTEMCTL_ARGS=()
if [[ -n $ROOT ]]; then SYSTEMCTL_ARGS=(--root "$ROOT"); fi

UNIT_DIR="$ROOT/etc/systemd/system"
units=()
for f in "$UNIT_DIR"/hal-*.service "$UNIT_DIR"/hal-o-swarm.target; do
  if [[ -e $f ]]; then units+=("$(basename "$f")"); fi
done
# Running instances of the opencode template (hal-opencode@alice.service) are stopped by name.
instances=()
for f in "$UNIT_DIR"/hal-o-swarm.target.wants/hal-opencode@*.service; do
  if [[ -e $f || -L $f ]]; then instances+=("$(basename "$f")"); fi
done

if [[ ${#units[@]} -gt 0 ]]; then
  stoppable=()
  for u in "${units[@]}"; do
    [[ $u == hal-opencode@.service ]] || stoppable+=("$u")
  done
  run systemctl stop "${stoppable[@]}" "${instances[@]}" || true
  run systemctl "${SYSTEMCTL_ARGS[@]}" disable "${stoppable[@]}" "${instances[@]}" || true
  for u in "${units[@]}"; do
    run rm -f "$UNIT_DIR/$u"
  done
  # Links `systemctl enable` made (a stubbed or failed disable leaves them).
  run rm -rf "$UNIT_DIR/hal-o-swarm.target.wants"
  run rm -f "$UNIT_DIR/multi-user.target.wants/hal-o-swarm.target"
  run systemctl daemon-reload || true
fi
if [[ "$(readlink "$UNIT_DIR/nats-server.service" 2>/dev/null || true)" == /dev/null ]]; then
  # install.sh masked Debian's non-JetStream nats-server; it stays disabled, but may be started again.
  run systemctl "${SYSTEMCTL_ARGS[@]}" unmask nats-server.service || run rm -f "$UNIT_DIR/nats-server.service"
fi
run rm -rf "$ROOT$PREFIX"
if [[ -f $ROOT/usr/local/bin/halctl ]] && grep -q 'HAL-O-SWARM install.sh' "$ROOT/usr/local/bin/halctl"; then
  run rm -f "$ROOT/usr/local/bin/halctl"
fi

if [[ $PURGE -eq 1 ]]; then
  run rm -rf "$ROOT/etc/hal-o-swarm" "$ROOT/var/lib/hal-o-swarm"
  if [[ -n $ROOT ]]; then
    run userdel --root "$ROOT" hal 2>/dev/null || true
  else
    run userdel hal 2>/dev/null || true
  fi
  echo "uninstall.sh: removed the program, units, config, data and the hal user"
else
  echo "uninstall.sh: removed the program and units; kept /etc/hal-o-swarm and /var/lib/hal-o-swarm (--purge deletes them)"
fi
