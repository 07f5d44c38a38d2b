import { type ChildProcess, spawn } from 'node:child_process';

/** Exit codes of the watchdog before nats-server runs, with what they mean. */
export const WatchdogExit = {
  NO_FLOCK: 73,
  LOCK_FILE: 74,
  /** Another process holds the store lock: a nats-server already runs on this store. */
  STORE_LOCKED: 75,
  NO_BINARY: 127,
} as const;

/**
 * How the embedded nats-server is run: through a small `sh` watchdog that the supervisor holds
 * by a pipe on its stdin. It
 *
 * 1. takes an exclusive `flock` on `<store>/hal-nats.lock` (fd 9, inherited by nats-server, so
 *    the lock lives as long as the server does — even if the watchdog itself is killed): two
 *    servers on one store are impossible;
 * 2. starts nats-server, records `nats.pid` in the store and prints the server's pid;
 * 3. sends the server SIGTERM when its stdin reaches EOF — the supervisor stopping it, or the
 *    supervisor dying in any way (SIGKILL, an OOM kill): the kernel closes the pipe then;
 * 4. exits with the server's exit code when the server ends on its own.
 *
 * The script is passed to `sh -c`, so there is no file to ship or to find at run time.
 */
const SCRIPT = `
lock=$1 pidfile=$2 bin=$3
shift 3
command -v flock >/dev/null 2>&1 || exit ${WatchdogExit.NO_FLOCK}
command -v "$bin" >/dev/null 2>&1 || exit ${WatchdogExit.NO_BINARY}
exec 9>>"$lock" || exit ${WatchdogExit.LOCK_FILE}
flock -n 9 || exit ${WatchdogExit.STORE_LOCKED}
exec 3<&0
"$bin" "$@" 0</dev/null 1>/dev/null 3<&- &
nats=$!
printf '{"nats_pid":%s,"watchdog_pid":%s,"supervisor_pid":%s}\\n' "$nats" "$$" "$PPID" >"$pidfile.tmp" && mv -f "$pidfile.tmp" "$pidfile"
echo "$nats"
( exec 9>&-; read -r _ || :; kill -TERM "$nats" 2>/dev/null ) <&3 &
watcher=$!
exec 3<&-
wait "$nats"
code=$?
kill "$watcher" 2>/dev/null
exit "$code"
`;

export interface WatchdogSpawn {
  lockFile: string;
  pidFile: string;
  binary: string;
  args: readonly string[];
  /** Added to the server's environment (GOMEMLIMIT). */
  env?: Readonly<Record<string, string>>;
}

/**
 * Spawns the watchdog in its own process group (a Ctrl-C in the terminal reaches only the
 * supervisor, which stops NATS in order). stdin is the lifeline pipe; stdout carries the
 * server's pid; stderr is the server's log.
 */
export function spawnWatchdog(opts: WatchdogSpawn): ChildProcess {
  return spawn(
    'sh',
    ['-c', SCRIPT, 'hal-nats-watchdog', opts.lockFile, opts.pidFile, opts.binary, ...opts.args],
    { stdio: ['pipe', 'pipe', 'pipe'], detached: true, env: { ...process.env, ...opts.env } },
  );
}
