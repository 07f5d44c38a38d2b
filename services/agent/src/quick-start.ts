/**
 * `hal-agent --supervisor wss://hal.example:8420 --token-file /etc/hal/node.token --project api=/srv/api`:
 * a new host joins without writing a config file. The token is read from a file only: the host
 * runs an LLM that can read every process's command line (`/proc/<pid>/cmdline`), so a token on
 * the command line is refused outright.
 */
export const QUICK_START_OPTIONS = {
  supervisor: {
    type: 'string',
    help: 'gateway WebSocket URL, ws:// or wss:// (instead of --config); several comma-separated are tried in turn',
  },
  'token-file': { type: 'string', help: "file holding this node's token (never the token itself)" },
  project: { type: 'string', multiple: true, help: 'NAME=DIR, once per project' },
  'node-id': { type: 'string', help: 'node id (default: the host name)' },
  'data-dir': { type: 'string', help: 'spool and memory directory (default ./.hal/agent)' },
  'opencode-url': { type: 'string', help: 'opencode serve URL (default http://127.0.0.1:4096)' },
  'manage-opencode': { type: 'boolean', help: 'start and restart opencode serve itself' },
  // Declared only to refuse them with the reason, rather than "unknown option".
  token: { type: 'string', help: 'refused: use --token-file' },
  'auth-token': { type: 'string', help: 'refused: use --token-file' },
} as const;

const TOKEN_IN_ARGV =
  'a token on the command line is readable by every process on this host (/proc/*/cmdline), the LLM included: put it in a file (mode 0600) and pass --token-file';

/** The raw agent config the flags describe, or what is wrong with them. */
export function quickStartConfig(
  values: Readonly<Record<string, string | boolean | string[] | undefined>>,
): object | string {
  if (values.token !== undefined || values['auth-token'] !== undefined) return TOKEN_IN_ARGV;
  const supervisor = values.supervisor;
  const tokenFile = values['token-file'];
  const projects = values.project;
  if (typeof supervisor !== 'string') return '--supervisor is needed when the config comes from flags';
  if (typeof tokenFile !== 'string') return '--token-file is needed when the config comes from flags';
  if (!Array.isArray(projects) || projects.length === 0) return 'at least one --project NAME=DIR is needed';
  const parsed: Array<{ name: string; directory: string }> = [];
  for (const p of projects) {
    const eq = p.indexOf('=');
    if (eq <= 0 || eq === p.length - 1) return `--project "${p}" must be NAME=DIR, like api=/srv/api`;
    parsed.push({ name: p.slice(0, eq), directory: p.slice(eq + 1) });
  }
  const opencode: Record<string, unknown> = {};
  if (typeof values['opencode-url'] === 'string') opencode.url = values['opencode-url'];
  if (values['manage-opencode'] === true) opencode.manage = true;
  return {
    // `ws://a:8420,ws://b:8420`: a list, tried in turn; one URL stays a plain string.
    supervisor_url: supervisor.includes(',') ? supervisor.split(',').map((u) => u.trim()) : supervisor,
    auth_token_file: tokenFile,
    projects: parsed,
    ...(typeof values['node-id'] === 'string' ? { node_id: values['node-id'] } : {}),
    ...(typeof values['data-dir'] === 'string' ? { data_dir: values['data-dir'] } : {}),
    ...(Object.keys(opencode).length > 0 ? { opencode } : {}),
  };
}
