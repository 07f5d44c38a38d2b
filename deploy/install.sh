#!/usr/bin/env bash
# Installs or upgrades HAL-O-SWARM from this checkout as systemd services (Debian/Ubuntu).
# Run it again after `git pull` (or a new tag) to upgrade; run it twice and nothing changes.
#
#   sudo deploy/install.sh --all --project NAME=DIR      # one host: supervisor, agent, halctl
#   sudo deploy/install.sh --supervisor [--server-host 0.0.0.0]
#   sudo deploy/install.sh --agent --supervisor-url wss://hal.example.com \
#        --node-token-file ./node.token --agent-user alice --project api=/home/alice/api
#   sudo deploy/install.sh --split                       # shared NATS + one unit per service
#   sudo deploy/install.sh --rollback                    # back to the previous release
#
# Layout: code in <prefix>/releases/<version>, root-owned, with an atomic `current` symlink (and
# `previous`); config in /etc/hal-o-swarm (written once, never overwritten, 0640 root:<group>,
# tokens too); data in /var/lib/hal-o-swarm. See docs/DEPLOYMENT.md and docs/UPGRADE.md.
set -euo pipefail
umask 022

usage() {
  cat <<'USAGE'
usage: install.sh [--all] [--supervisor] [--agent] [--split] [--halctl] [--rollback]
                  [--prefix DIR] [--root DIR] [--dry-run] [--yes]
                  [--server-host HOST] [--supervisor-url URL] [--node-token-file FILE]
                  [--agent-user USER] [--project NAME=DIR]... [--opencode PATH] [--release NAME]

roles (any combination; default --supervisor):
  --all               --supervisor --agent --halctl on this host
  --supervisor        hal-supervisor: every service in one process, embedded NATS
  --agent             hal-agent + hal-opencode@<agent user> (opencode as the project owner)
  --split             hal-nats (JetStream) + hal-gateway/-tracker/-policy/-cost-poller/-discord-bridge
  --halctl            /usr/local/bin/halctl
options:
  --prefix DIR        where releases go (default /opt/hal-o-swarm)
  --root DIR          install into DIR as if it were / (packaging, tests); users go to DIR/etc/passwd
  --dry-run           print what would be done, change nothing
  --yes               ask nothing (no terminal: the same)
  --server-host HOST  address the gateway listens on for agents (new supervisor config only)
  --supervisor-url U  where agents connect (wss://… when it is another host)
  --node-token-file F this node's token (security.node_tokens on the supervisor), copied to
                      /etc/hal-o-swarm/agent.token
  --agent-user USER   the account that owns the projects (default: hal)
  --project NAME=DIR  a project for a new agent config (repeatable)
  --opencode PATH     the opencode binary for hal-opencode@ (default: found on PATH)
  --release NAME      name of the release directory (default: version from package.json + git)
  --rollback          switch `current` back to `previous` and restart the units
USAGE
}

die() {
  echo "install.sh: $*" >&2
  exit 1
}
note() { echo "install.sh: $*"; }

SRC="$(cd "$(dirname "$0")/.." && pwd)"
ROOT=""
PREFIX=/opt/hal-o-swarm
DRY_RUN=0
ASSUME_YES=0
ROLLBACK=0
WANT_SUPERVISOR=0
WANT_AGENT=0
WANT_SPLIT=0
WANT_HALCTL=0
SERVER_HOST=""
SUPERVISOR_URL=""
NODE_TOKEN_FILE=""
AGENT_USER=hal
OPENCODE_BIN=""
RELEASE=""
PROJECTS=()

while [[ $# -gt 0 ]]; do
  case "$1" in
    --all) WANT_SUPERVISOR=1 WANT_AGENT=1 WANT_HALCTL=1 ;;
    --supervisor) WANT_SUPERVISOR=1 ;;
    --agent) WANT_AGENT=1 ;;
    --split) WANT_SPLIT=1 ;;
    --halctl) WANT_HALCTL=1 ;;
    --rollback) ROLLBACK=1 ;;
    --dry-run) DRY_RUN=1 ;;
    --yes | -y) ASSUME_YES=1 ;;
    --prefix) PREFIX="${2:?--prefix needs a directory}"; shift ;;
    --root) ROOT="${2:?--root needs a directory}"; shift ;;
    --server-host) SERVER_HOST="${2:?--server-host needs a host}"; shift ;;
    --supervisor-url) SUPERVISOR_URL="${2:?--supervisor-url needs a URL}"; shift ;;
    --node-token-file) NODE_TOKEN_FILE="${2:?--node-token-file needs a file}"; shift ;;
    --agent-user) AGENT_USER="${2:?--agent-user needs a user}"; shift ;;
    --project) PROJECTS+=("${2:?--project needs NAME=DIR}"); shift ;;
    --opencode) OPENCODE_BIN="${2:?--opencode needs a path}"; shift ;;
    --release) RELEASE="${2:?--release needs a name}"; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
  shift
done
if [[ $ROLLBACK -eq 0 && $((WANT_SUPERVISOR + WANT_AGENT + WANT_SPLIT + WANT_HALCTL)) -eq 0 ]]; then
  WANT_SUPERVISOR=1
fi
[[ $WANT_SUPERVISOR -eq 1 && $WANT_SPLIT -eq 1 ]] &&
  die "--supervisor (or --all) and --split both run the services: choose one"
if [[ -n $ROOT ]]; then
  ROOT="$(cd "$ROOT" && pwd)" || die "--root $ROOT: no such directory"
fi
[[ $PREFIX == /* ]] || die "--prefix must be an absolute path"

ETC=/etc/hal-o-swarm
STATE=/var/lib/hal-o-swarm
UNIT_DIR=/etc/systemd/system
# Paths as they are on the host (units and configs name them without ROOT).
R_PREFIX="$ROOT$PREFIX"
R_ETC="$ROOT$ETC"
R_STATE="$ROOT$STATE"
R_UNIT_DIR="$ROOT$UNIT_DIR"
MIN_NODE=20.19
OPENCODE_VERSION="$(sed -n 's/.*"opencode-ai": *"\([^"]*\)".*/\1/p' "$SRC/package.json" | head -n 1)"

# ---------------------------------------------------------------------------------------------
# Changing things: every change goes through these, so --dry-run prints instead of doing.

run() {
  if [[ $DRY_RUN -eq 1 ]]; then
    echo "+ $*"
  else
    "$@"
  fi
}

SYSTEMCTL_ARGS=()
if [[ -n $ROOT ]]; then SYSTEMCTL_ARGS=(--root "$ROOT"); fi
systemctl_run() {
  # `enable`/`disable` edit unit links and honour --root; the rest talk to the running systemd.
  case "$1" in
    enable | disable | mask | unmask) run systemctl "${SYSTEMCTL_ARGS[@]}" "$@" ;;
    *) run systemctl "$@" ;;
  esac
}

# Numeric ids from the (possibly --root) passwd/group files, so ownership is right in a staging tree.
uid_of() { awk -F: -v n="$1" '$1 == n { print $3; exit }' "$ROOT/etc/passwd"; }
gid_of() { awk -F: -v n="$1" '$1 == n { print $3; exit }' "$ROOT/etc/group"; }
primary_group_of() {
  local gid
  gid="$(awk -F: -v n="$1" '$1 == n { print $4; exit }' "$ROOT/etc/passwd")"
  awk -F: -v g="$gid" '$3 == g { print $1; exit }' "$ROOT/etc/group"
}
home_of() { awk -F: -v n="$1" '$1 == n { print $6; exit }' "$ROOT/etc/passwd"; }

# ensure_dir PATH OWNER GROUP MODE
ensure_dir() {
  local path="$1" owner="$2" group="$3" mode="$4"
  if [[ ! -d $path ]]; then
    run mkdir -p "$path"
  fi
  set_owner_mode "$path" "$owner" "$group" "$mode"
}

set_owner_mode() {
  local path="$1" owner="$2" group="$3" mode="$4" uid gid
  uid="$(uid_of "$owner")"
  gid="$(gid_of "$group")"
  if [[ $DRY_RUN -eq 1 && (! -e $path || -z $uid || -z $gid) ]]; then
    echo "+ chown $owner:$group $path; chmod $mode $path"
    return 0
  fi
  [[ -n $uid && -n $gid ]] || die "no user $owner or group $group (in $ROOT/etc/passwd, $ROOT/etc/group)"
  [[ "$(stat -c %u:%g "$path")" == "$uid:$gid" ]] || run chown "$uid:$gid" "$path"
  [[ "$(stat -c %a "$path")" == "${mode#0}" ]] || run chmod "$mode" "$path"
}

CHANGED_UNITS=()
# write_file PATH OWNER GROUP MODE < content — writes only when the content differs (an unchanged
# file keeps its mtime), so a second run changes nothing. Returns 0 when it wrote.
write_file() {
  local path="$1" owner="$2" group="$3" mode="$4" tmp
  tmp="$(mktemp)"
  cat >"$tmp"
  if [[ -f $path ]] && cmp -s "$tmp" "$path"; then
    rm -f "$tmp"
    set_owner_mode "$path" "$owner" "$group" "$mode"
    return 1
  fi
  if [[ $DRY_RUN -eq 1 ]]; then
    echo "+ write $path ($owner:$group $mode)"
    rm -f "$tmp"
    return 0
  fi
  install -D -m "$mode" -o "$(uid_of "$owner")" -g "$(gid_of "$group")" "$tmp" "$path"
  rm -f "$tmp"
  return 0
}

# write_once PATH OWNER GROUP MODE < content — configs and secrets: never overwritten.
write_once() {
  local path="$1"
  if [[ -e $path ]]; then
    cat >/dev/null
    set_owner_mode "$@"
    return 1
  fi
  write_file "$@"
}

random_token() { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'; }

# ---------------------------------------------------------------------------------------------
# Preflight: say exactly what is missing and how to get it, before touching anything.

preflight() {
  if [[ $EUID -ne 0 && $DRY_RUN -eq 0 ]]; then
    die "run as root (sudo deploy/install.sh …); --dry-run shows what it would do without root"
  fi
  [[ -z $ROOT || -f $ROOT/etc/passwd ]] ||
    die "--root $ROOT has no etc/passwd: seed it (cp /etc/passwd /etc/group $ROOT/etc/) first"
  NODE="$(command -v node || true)"
  if [[ -z $NODE ]]; then
    die "Node.js $MIN_NODE or newer is required and none is on PATH. Debian/Ubuntu:
  curl -fsSL https://deb.nodesource.com/setup_20.x | bash - && apt-get install -y nodejs"
  fi
  local version
  version="$("$NODE" -p 'process.versions.node')"
  if ! "$NODE" -e '
    const [a, b] = process.argv[1].split(".").map(Number), [x, y] = process.versions.node.split(".").map(Number);
    process.exit(x > a || (x === a && y >= b) ? 0 : 1)' "$MIN_NODE"; then
    die "Node.js $MIN_NODE or newer is required; $NODE is $version (Debian 12 ships 18). Install Node 20:
  curl -fsSL https://deb.nodesource.com/setup_20.x | bash - && apt-get install -y nodejs
then run install.sh again (the units use the node found on PATH at install time)"
  fi
  if ! command -v npm >/dev/null; then
    die "npm is missing (Debian packages it apart from node): apt-get install -y npm
(NodeSource's nodejs package includes it)"
  fi
  if [[ $WANT_SUPERVISOR -eq 1 || $WANT_SPLIT -eq 1 ]]; then
    if ! command -v nats-server >/dev/null; then
      command -v apt-get >/dev/null ||
        die "nats-server is required: https://docs.nats.io/running-a-nats-service/introduction/installation"
      note "installing nats-server (apt-get install -y nats-server)"
      run apt-get update
      run apt-get install -y nats-server
    fi
    NATS_SERVER="$(command -v nats-server || echo /usr/bin/nats-server)"
  fi
  if [[ $WANT_AGENT -eq 1 ]]; then
    if [[ -z $OPENCODE_BIN ]]; then
      local home
      home="$(home_of "$AGENT_USER")"
      for candidate in "$(command -v opencode || true)" /usr/local/bin/opencode "$home/.opencode/bin/opencode"; do
        if [[ -n $candidate && -x $candidate ]]; then
          OPENCODE_BIN="$candidate"
          break
        fi
      done
    fi
    [[ -n $OPENCODE_BIN && -x $OPENCODE_BIN ]] ||
      die "opencode is required on an agent host and was not found (PATH, /usr/local/bin, ~$AGENT_USER/.opencode/bin):
  npm install -g opencode-ai@${OPENCODE_VERSION:-latest}
or pass --opencode /path/to/opencode"
    if [[ $AGENT_USER != hal && -z "$(uid_of "$AGENT_USER")" ]]; then
      die "--agent-user $AGENT_USER: no such user (the account that owns the projects)"
    fi
  fi
}

# ---------------------------------------------------------------------------------------------

ensure_hal_user() {
  if [[ -n "$(uid_of hal)" ]]; then return 0; fi
  local args=(--system --user-group --home-dir "$STATE" --no-create-home --shell /usr/sbin/nologin)
  if [[ -n $ROOT ]]; then args=(--root "$ROOT" "${args[@]}"); fi
  note "creating the system user hal"
  run useradd "${args[@]}" hal
}

release_name() {
  if [[ -n $RELEASE ]]; then
    echo "$RELEASE"
    return 0
  fi
  local version sha
  version="$(sed -n 's/^  "version": *"\([^"]*\)".*/\1/p' "$SRC/package.json" | head -n 1)"
  sha="$(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || true)"
  echo "${version}${sha:+-g$sha}"
}

# Builds the release in a staging directory next to the others, then moves it into place: a
# release directory either is complete (it has .hal-release) or does not exist.
build_release() {
  local dir="$R_PREFIX/releases/$RELEASE" stage="$R_PREFIX/releases/.staging-$RELEASE"
  if [[ -f $dir/.hal-release ]]; then
    return 0
  fi
  note "building release $RELEASE (npm ci, build, prune) in $PREFIX/releases"
  if [[ $DRY_RUN -eq 1 ]]; then
    echo "+ copy $SRC to $stage; npm ci; npm run build; npm prune --omit=dev; mv to $dir"
    return 0
  fi
  rm -rf "$stage" "$dir"
  mkdir -p "$stage"
  tar -C "$SRC" --exclude=node_modules --exclude=dist --exclude=.git --exclude=.hal --exclude=.tools \
    --exclude=.turbo --exclude=coverage --exclude=bench/out --exclude='*.tsbuildinfo' --exclude='*.db' \
    -cf - . | tar -C "$stage" --no-same-owner -xf -
  (
    cd "$stage"
    npm ci --no-audit --no-fund
    npm run build
    npm prune --omit=dev --no-audit --no-fund
  )
  echo "$RELEASE" >"$stage/.hal-release"
  # Root-owned and not writable by the services: a compromised service cannot change its code.
  chown -R 0:0 "$stage"
  chmod -R u+rwX,go+rX,go-w "$stage"
  mv -T "$stage" "$dir"
}

# Atomic symlink switch: a new link beside the old one, renamed over it.
point() {
  local link="$1" target="$2"
  if [[ -L $link && "$(readlink "$link")" == "$target" ]]; then return 1; fi
  run ln -sfn "$target" "$link.tmp"
  run mv -T "$link.tmp" "$link"
  return 0
}

# ---------------------------------------------------------------------------------------------
# Configs: written once with fresh tokens; an existing file is never touched.

write_supervisor_config() {
  local config="$R_ETC/supervisor.config.json"
  if [[ -e $config ]]; then
    if [[ -n $SERVER_HOST ]]; then
      note "$ETC/supervisor.config.json exists: --server-host not applied (edit server.host there)"
    fi
    return 0
  fi
  if [[ -z $SERVER_HOST ]]; then
    if [[ -t 0 && $ASSUME_YES -eq 0 ]]; then
      read -r -p "Address the gateway listens on for agents [127.0.0.1 = only this host or a reverse proxy here; 0.0.0.0 = every interface]: " SERVER_HOST
    fi
    SERVER_HOST="${SERVER_HOST:-127.0.0.1}"
  fi
  random_token | write_once "$R_ETC/auth_token" root hal 0640 || true
  local nats_url="" nats_token_file=""
  if [[ $WANT_SPLIT -eq 1 ]]; then
    nats_url="nats://127.0.0.1:4222"
    nats_token_file="$ETC/nats.token"
  fi
  "$NODE" -e '
    const [dataDir, host, tokenFile, natsUrl, natsTokenFile] = process.argv.slice(1);
    const config = { data_dir: dataDir };
    if (natsUrl) config.nats = { url: natsUrl, token_file: natsTokenFile };
    config.server = { host, auth_token_file: tokenFile };
    process.stdout.write(JSON.stringify(config, null, 2) + "\n");
  ' "$STATE/data" "$SERVER_HOST" "$ETC/auth_token" "$nats_url" "$nats_token_file" |
    write_once "$config" root hal 0640 || true
  note "wrote $ETC/supervisor.config.json (server.host $SERVER_HOST); the token is in $ETC/auth_token"
  if [[ $SERVER_HOST == 127.0.0.1 || $SERVER_HOST == localhost ]]; then
    note "agents on other hosts reach 127.0.0.1 only through a reverse proxy on this host (wss://, docs/DEPLOYMENT.md)"
  fi
}

write_agent_config() {
  local config="$R_ETC/agent.config.json" token_file group="$AGENT_GROUP"
  if [[ -n $NODE_TOKEN_FILE ]]; then
    [[ -r $NODE_TOKEN_FILE ]] || die "--node-token-file $NODE_TOKEN_FILE: cannot read it"
    # The token given on the command line is installed (same token: nothing changes).
    tr -d '\n' <"$NODE_TOKEN_FILE" | write_file "$R_ETC/agent.token" root "$group" 0640 || true
    token_file="$ETC/agent.token"
  elif [[ $WANT_SUPERVISOR -eq 1 || $WANT_SPLIT -eq 1 ]]; then
    token_file="$ETC/auth_token"
    if [[ -e $R_ETC/auth_token ]]; then set_owner_mode "$R_ETC/auth_token" root hal 0640; fi
    if [[ $group != hal ]]; then
      note "the agent (group $group) cannot read $ETC/auth_token (group hal): pass --node-token-file"
    fi
  else
    token_file="$ETC/agent.token"
  fi
  if [[ -e $config ]]; then
    set_owner_mode "$config" root "$group" 0640
    return 0
  fi
  if [[ ${#PROJECTS[@]} -eq 0 ]]; then
    note "no --project given: write $ETC/agent.config.json (supervisor_url, auth_token_file, projects), then: systemctl enable --now hal-agent"
    return 0
  fi
  local url="${SUPERVISOR_URL:-ws://127.0.0.1:8420}"
  # shellcheck disable=SC2016 # JavaScript template literals, not shell expansions
  "$NODE" -e '
    const [url, tokenFile, dataDir, ...projects] = process.argv.slice(1);
    const config = {
      supervisor_url: url,
      auth_token_file: tokenFile,
      data_dir: dataDir,
      projects: projects.map((p) => {
        const at = p.indexOf("=");
        if (at <= 0) throw new Error(`--project ${p}: expected NAME=DIR`);
        return { name: p.slice(0, at), directory: p.slice(at + 1) };
      }),
    };
    process.stdout.write(JSON.stringify(config, null, 2) + "\n");
  ' "$url" "$token_file" "$STATE/agent" "${PROJECTS[@]}" | write_once "$config" root "$group" 0640 || true
  note "wrote $ETC/agent.config.json (supervisor_url $url)"
}

write_nats_config() {
  if [[ ! -e $R_ETC/nats.token ]]; then
    random_token | write_once "$R_ETC/nats.token" root hal 0640 || true
  fi
  local token=""
  if [[ -r $R_ETC/nats.token ]]; then token="$(cat "$R_ETC/nats.token")"; fi
  sed -e "s|@STATE@|$STATE|g" -e "s|@SERVER_NAME@|hal-$(hostname -s)|g" -e "s|@NATS_TOKEN@|$token|g" \
    "$SRC/deploy/systemd/nats.conf.in" | write_once "$R_ETC/nats.conf" root hal 0640 || true
}

# The agent's writable paths: its spool, and each configured project directory ("-": a missing
# directory does not stop the unit).
agent_rw_paths() {
  local config="$R_ETC/agent.config.json"
  if [[ ! -r $config ]]; then
    echo "$STATE/agent"
    return 0
  fi
  # shellcheck disable=SC2016 # JavaScript template literals, not shell expansions
  "$NODE" -e '
    const fs = require("node:fs");
    const config = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
    const paths = [process.argv[2]];
    for (const p of config.projects ?? []) {
      if (typeof p.directory !== "string" || !p.directory.startsWith("/") || /["\\\s]/.test(p.directory)) {
        process.stderr.write(`install.sh: project directory ${JSON.stringify(p.directory)} is not added to ReadWritePaths (not absolute, or holds spaces/quotes): add a drop-in\n`);
        continue;
      }
      paths.push(`-${p.directory}`);
    }
    process.stdout.write(paths.join(" ") + "\n");
  ' "$config" "$STATE/agent"
}

render() {
  sed -e "s|@NODE@|$NODE|g" -e "s|@PREFIX@|$PREFIX|g" -e "s|@ETC@|$ETC|g" -e "s|@STATE@|$STATE|g" \
    -e "s|@NATS_SERVER@|${NATS_SERVER:-/usr/bin/nats-server}|g" -e "s|@OPENCODE@|${OPENCODE_BIN:-opencode}|g" \
    -e "s|@AGENT_USER@|$AGENT_USER|g" -e "s|@AGENT_GROUP@|${AGENT_GROUP:-hal}|g" \
    -e "s|@OPENCODE_UNIT@|hal-opencode@$AGENT_USER.service|g" -e "s|@AGENT_RW_PATHS@|${AGENT_RW:-$STATE/agent}|g" \
    "$@"
}

# install_unit NAME [sed args…] — renders deploy/systemd/NAME (or the split template) into UNIT_DIR.
install_unit() {
  local name="$1" template="$SRC/deploy/systemd/$1"
  shift
  [[ -f $template ]] || template="$SRC/deploy/systemd/hal-service.service.in"
  [[ $# -gt 0 ]] || set -- -e ''
  if render "$template" | sed "$@" | write_file "$R_UNIT_DIR/$name" root root 0644; then
    CHANGED_UNITS+=("$name")
  fi
}

# validate BIN CONFIG — `BIN --config ETC/CONFIG --validate`. Under --root the config's secret
# files (`*_file`: /etc/hal-o-swarm/…) are read from inside the root, through a temporary copy.
validate() {
  local bin="$1" config="$R_ETC/$2" checked status=0
  checked="$config"
  if [[ -n $ROOT ]]; then
    checked="$(mktemp)"
    "$NODE" -e '
      const fs = require("node:fs");
      const [root, file] = process.argv.slice(1);
      const rebase = (v) => {
        if (Array.isArray(v)) return v.map(rebase);
        if (v === null || typeof v !== "object") return v;
        return Object.fromEntries(Object.entries(v).map(([k, x]) =>
          [k, k.endsWith("_file") && typeof x === "string" && x.startsWith("/") ? root + x : rebase(x)]));
      };
      process.stdout.write(JSON.stringify(rebase(JSON.parse(fs.readFileSync(file, "utf8")))));
    ' "$ROOT" "$config" >"$checked"
  fi
  (cd "$R_STATE" && "$NODE" "$bin" --config "$checked" --validate >/dev/null) || status=$?
  [[ $checked == "$config" ]] || rm -f "$checked"
  return "$status"
}

# ---------------------------------------------------------------------------------------------

UNITS=()      # units to enable, in start order
CODE_UNITS=() # units running code from the release: restarted when `current` moves
INSTALLED_UNITS=()

installed_units() {
  local f
  INSTALLED_UNITS=()
  for f in "$R_UNIT_DIR"/hal-*.service; do
    [[ -e $f ]] || continue
    case "$(basename "$f")" in
      hal-opencode@.service | hal-nats.service) ;;
      *) INSTALLED_UNITS+=("$(basename "$f")") ;;
    esac
  done
}

rollback() {
  [[ $EUID -eq 0 || $DRY_RUN -eq 1 ]] || die "run as root"
  local previous current
  previous="$(readlink "$R_PREFIX/previous" 2>/dev/null || true)"
  current="$(readlink "$R_PREFIX/current" 2>/dev/null || true)"
  [[ -n $previous && -d $R_PREFIX/$previous ]] || die "no previous release to roll back to in $PREFIX"
  point "$R_PREFIX/current" "$previous" || true
  point "$R_PREFIX/previous" "$current" || true
  note "current → $previous (was $current)"
  installed_units
  if [[ ${#INSTALLED_UNITS[@]} -gt 0 ]]; then
    systemctl_run try-restart "${INSTALLED_UNITS[@]}"
  fi
}

main() {
  if [[ $ROLLBACK -eq 1 ]]; then
    rollback
    return 0
  fi
  preflight
  RELEASE="$(release_name)"
  ensure_hal_user
  AGENT_GROUP="$(primary_group_of "$AGENT_USER")"
  AGENT_GROUP="${AGENT_GROUP:-hal}"

  ensure_dir "$R_PREFIX" root root 0755
  ensure_dir "$R_PREFIX/releases" root root 0755
  ensure_dir "$R_ETC" root hal 0750
  ensure_dir "$R_STATE" hal hal 0750
  build_release

  # Debian's nats-server package starts a server without JetStream on 4222: the embedded server
  # would move to a random port, and `nats … 127.0.0.1:4222` would tap the wrong server.
  if [[ ($WANT_SUPERVISOR -eq 1 || $WANT_SPLIT -eq 1) && -e $ROOT/lib/systemd/system/nats-server.service ]] &&
    [[ ! -L $R_UNIT_DIR/nats-server.service ]]; then
    note "disabling and masking Debian's nats-server.service (no JetStream; HAL runs its own)"
    systemctl_run disable --now nats-server.service || true
    systemctl_run mask nats-server.service
  fi

  if [[ $WANT_SUPERVISOR -eq 1 ]]; then
    ensure_dir "$R_STATE/data" hal hal 0750
    write_supervisor_config
    install_unit hal-supervisor.service
    UNITS+=(hal-supervisor.service)
    CODE_UNITS+=(hal-supervisor.service)
  fi
  if [[ $WANT_SPLIT -eq 1 ]]; then
    ensure_dir "$R_STATE/data" hal hal 0750
    ensure_dir "$R_STATE/nats" hal hal 0750
    write_nats_config
    write_supervisor_config
    install_unit hal-nats.service
    UNITS+=(hal-nats.service)
    local service port=8421
    for service in gateway tracker policy cost-poller discord-bridge; do
      # The gateway serves the API on server.http_port; the others their health on the next ports.
      install_unit "hal-$service.service" -e "s|@SERVICE@|$service|g" -e "s|@HTTP_PORT@|$port|g"
      UNITS+=("hal-$service.service")
      CODE_UNITS+=("hal-$service.service")
      port=$((port + 1))
    done
  fi
  local agent_ready=0
  if [[ $WANT_AGENT -eq 1 ]]; then
    ensure_dir "$R_STATE/agent" "$AGENT_USER" "$AGENT_GROUP" 0750
    write_agent_config
    if [[ -e $R_ETC/agent.config.json || ($DRY_RUN -eq 1 && ${#PROJECTS[@]} -gt 0) ]]; then agent_ready=1; fi
    AGENT_RW="$(agent_rw_paths)"
    local port
    port="$([[ -r $R_ETC/agent.config.json ]] && "$NODE" -p \
      'JSON.parse(require("node:fs").readFileSync(process.argv[1], "utf8")).opencode_port ?? 4096' \
      "$R_ETC/agent.config.json" || echo 4096)"
    printf 'OPENCODE_PORT=%s\n' "$port" | write_file "$R_ETC/opencode-$AGENT_USER.env" root root 0644 || true
    install_unit hal-opencode@.service
    install_unit hal-agent.service
    UNITS+=("hal-opencode@$AGENT_USER.service")
    if [[ $agent_ready -eq 1 ]]; then
      UNITS+=(hal-agent.service)
      CODE_UNITS+=(hal-agent.service)
    fi
  fi
  install_unit hal-o-swarm.target
  if [[ $WANT_HALCTL -eq 1 || $WANT_SUPERVISOR -eq 1 || $WANT_SPLIT -eq 1 ]]; then
    printf '#!/bin/sh\n# Written by HAL-O-SWARM install.sh: halctl from the current release.\nexec %s %s/current/services/halctl/bin/halctl.js "$@"\n' \
      "$NODE" "$PREFIX" | write_file "$ROOT/usr/local/bin/halctl" root root 0755 || true
  fi

  # Validate with the new release before switching to it: a config the new code refuses must not
  # take the running services down.
  if [[ $DRY_RUN -eq 0 ]]; then
    local bin="$R_PREFIX/releases/$RELEASE/services"
    if [[ $WANT_SUPERVISOR -eq 1 ]] && ! validate "$bin/supervisor/bin/hal-supervisor.js" supervisor.config.json; then
      die "$ETC/supervisor.config.json is invalid for release $RELEASE (problems above); nothing was switched"
    fi
    if [[ $WANT_SPLIT -eq 1 && -f $bin/tracker/dist/main.js ]] &&
      ! validate "$bin/tracker/dist/main.js" supervisor.config.json; then
      die "$ETC/supervisor.config.json is invalid for a split install (problems above); nothing was switched"
    fi
    if [[ $agent_ready -eq 1 ]] && ! validate "$bin/agent/bin/hal-agent.js" agent.config.json; then
      die "$ETC/agent.config.json is invalid for release $RELEASE (problems above); nothing was switched"
    fi
  fi

  local first_install=0 upgraded=0 old=""
  [[ -L $R_PREFIX/current ]] || first_install=1
  old="$(readlink "$R_PREFIX/current" 2>/dev/null || true)"
  if point "$R_PREFIX/current" "releases/$RELEASE"; then
    upgraded=1
    if [[ -n $old ]]; then
      point "$R_PREFIX/previous" "$old" || true
      note "current → releases/$RELEASE (previous: $old; roll back with --rollback)"
    fi
  fi
  prune_releases

  if [[ ${#CHANGED_UNITS[@]} -gt 0 ]]; then
    systemctl_run daemon-reload
    systemctl_run enable hal-o-swarm.target "${UNITS[@]}"
  fi
  if [[ $first_install -eq 1 ]]; then
    systemctl_run start "${UNITS[@]}"
  else
    # Restart what runs changed code or a changed unit — never opencode (it would end every
    # session; its unit is not part of a release): systemctl restart hal-opencode@USER yourself.
    local restart=() unit
    for unit in "${UNITS[@]}"; do
      if [[ $unit == hal-opencode@* ]]; then continue; fi
      if [[ $upgraded -eq 1 && " ${CODE_UNITS[*]} " == *" $unit "* ]] ||
        [[ " ${CHANGED_UNITS[*]} " == *" $unit "* ]]; then
        restart+=("$unit")
      fi
    done
    if [[ ${#restart[@]} -gt 0 ]]; then
      systemctl_run try-restart "${restart[@]}"
    fi
    if [[ " ${CHANGED_UNITS[*]} " == *" hal-opencode@.service "* ]]; then
      note "hal-opencode@.service changed: restart hal-opencode@$AGENT_USER when no session is busy"
    fi
  fi
  if [[ $upgraded -eq 0 && ${#CHANGED_UNITS[@]} -eq 0 ]]; then
    note "release $RELEASE is installed and current; nothing to do"
  else
    note "installed release $RELEASE: ${UNITS[*]}"
  fi
}

# Keeps current, previous and the newest other release; older ones go.
prune_releases() {
  local keep=() dir name
  keep+=("$(basename "$(readlink "$R_PREFIX/current" 2>/dev/null || echo none)")")
  keep+=("$(basename "$(readlink "$R_PREFIX/previous" 2>/dev/null || echo none)")")
  local others=()
  while IFS= read -r dir; do
    name="$(basename "$dir")"
    [[ " ${keep[*]} " == *" $name "* ]] || others+=("$dir")
  done < <(find "$R_PREFIX/releases" -mindepth 1 -maxdepth 1 -type d ! -name '.staging-*' -printf '%T@ %p\n' 2>/dev/null | sort -rn | cut -d' ' -f2-)
  local i
  for ((i = 1; i < ${#others[@]}; i++)); do
    run rm -rf "${others[$i]}"
  done
}

main
