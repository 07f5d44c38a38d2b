#!/usr/bin/env node
// `npm start` (after setup.mjs): writes a default config under ./.hal on the first run, runs the
// supervisor and the demo, prints where everything is, and on Ctrl-C/SIGTERM stops every child it
// started before exiting — no orphan supervisor or nats-server.
// HAL_HOME moves ./.hal (configs, data, logs, the demo project and its opencode HOME) elsewhere;
// the usual HAL_* overrides move the ports (HAL_SERVER__HTTP_PORT, HAL_SERVER__PORT,
// HAL_NATS__EMBEDDED_PORT, and HAL_OPENCODE_PORT for the demo opencode), so a test can run it
// beside a developer's own `npm start`.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// biome-ignore lint/suspicious/noUndeclaredEnvVars: read at run time by `npm start`, never by a turbo task
const halDir = process.env.HAL_HOME ? resolve(process.env.HAL_HOME) : join(root, '.hal');
const supervisorConfigFile = join(halDir, 'supervisor.config.json');
const logsDir = shown(join(halDir, 'logs'));
const agentConfigFile = join(halDir, 'agent.config.json');
const STOP_GRACE_MS = 15_000;
const READY_TIMEOUT_MS = 30_000;

/** How a path is shown to the person: relative to the checkout when inside it, else absolute. */
function shown(path) {
  const rel = relative(root, path);
  return rel === '' || rel.startsWith('..') || isAbsolute(rel) ? path : rel;
}

/** How a path is written into a config (relative paths there resolve against the checkout). */
function configPath(path) {
  const rel = shown(path);
  return isAbsolute(rel) ? rel : `./${rel}`;
}

/** A variable of the environment, absent when unset or blank (the services' own HAL_* overrides). */
function envVar(name) {
  return process.env[name]?.trim() || undefined;
}

/** A `HAL_*` override as the services read it (a number for ports), else the file's value, else the default. */
function effective(envName, fileValue, fallback) {
  const raw = envVar(envName);
  if (raw !== undefined) return typeof fallback === 'number' ? Number(raw) : raw;
  return fileValue ?? fallback;
}

const DEMO_NODE = 'demo-node';

/** Writes the default configs once; returns the token when this run created it (printed once). */
function ensureConfigs() {
  mkdirSync(join(halDir, 'logs'), { recursive: true });
  let createdToken;
  if (!existsSync(supervisorConfigFile)) {
    createdToken = randomBytes(32).toString('hex');
    // The demo agent gets its own token: the shared auth_token (an admin API token) is not an
    // agent credential in a generated config (security.require_node_tokens).
    const config = {
      data_dir: configPath(join(halDir, 'data')),
      server: { auth_token: createdToken },
      // The demo model is priced in its opencode.json (demoOpencodeConfig): these budgets then have
      // spend to count, warn about and forecast.
      cost: {
        budgets: [
          { name: 'demo-session', scope: 'session', limit_usd: 0.25 },
          { name: 'demo-daily', scope: 'fleet', period: 'day', limit_usd: 2 },
        ],
      },
      security: {
        require_node_tokens: true,
        node_tokens: { [DEMO_NODE]: `hal_node_${randomBytes(32).toString('base64url')}` },
      },
    };
    writeFileSync(supervisorConfigFile, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  }
  if (!existsSync(agentConfigFile)) {
    const supervisor = JSON.parse(readFileSync(supervisorConfigFile, 'utf8'));
    const token = supervisor.security?.node_tokens?.[DEMO_NODE] ?? supervisor.server?.auth_token;
    mkdirSync(join(halDir, 'demo-project'), { recursive: true });
    const config = {
      node_id: DEMO_NODE,
      supervisor_url: 'ws://127.0.0.1:8420',
      auth_token: token,
      data_dir: configPath(join(halDir, 'agent')),
      projects: [{ name: 'demo', directory: configPath(join(halDir, 'demo-project')) }],
    };
    writeFileSync(agentConfigFile, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  }
  return createdToken;
}

const children = [];

/**
 * Once stopAll has begun, nothing new may start: stopAll only stops the children it saw, so one
 * started later (a demo step still awaiting when another child died) would be left running.
 */
function refuseWhileStopping(name) {
  if (stopping) throw new Error(`not starting ${name}: stopping`);
}

/** Spawns a workspace bin from source; its JSON log lines go to <HAL_HOME>/logs/<name>.log. */
function startChild(name, bin, args, env = process.env) {
  refuseWhileStopping(name);
  const logFile = join(halDir, 'logs', `${name}.log`);
  const child = spawn(process.execPath, [join(root, bin), ...args], {
    cwd: root,
    env,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  child.stdout.pipe(createWriteStream(logFile, { flags: 'a' }));
  children.push({ name, child, logFile });
  child.once('exit', (code, signal) => {
    if (!stopping) {
      console.error(`${name} exited (${signal ?? code}); see ${shown(logFile)}. Stopping.`);
      void stopAll(code || 1);
    }
  });
  return child;
}

/** Spawns any binary (not a node script) under the same stop-all rules as startChild. */
function startProcess(name, command, args, opts = {}) {
  refuseWhileStopping(name);
  const logFile = join(halDir, 'logs', `${name}.log`);
  const child = spawn(command, args, { cwd: opts.cwd ?? root, env: opts.env ?? process.env, stdio: 'pipe' });
  const log = createWriteStream(logFile, { flags: 'a' });
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  children.push({ name, child, logFile });
  child.once('exit', (code, signal) => {
    if (!stopping) {
      console.error(`${name} exited (${signal ?? code}); see ${shown(logFile)}. Stopping.`);
      void stopAll(code || 1);
    }
  });
  return child;
}

/** A free loopback port (the kernel picks it; closed again before use). */
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

async function waitFor(what, probe, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && !stopping) {
    if (await probe().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  if (!stopping) throw new Error(`${what} did not come up within ${timeoutMs / 1000} s`);
}

/** The pinned opencode setup.mjs installs into .tools/opencode (kept out of the npm lock). */
function opencodeBinary() {
  const dir = join(root, '.tools', 'opencode', 'node_modules', 'opencode-ai', 'bin');
  for (const name of ['opencode.exe', 'opencode']) if (existsSync(join(dir, name))) return join(dir, name);
  throw new Error('the opencode binary is missing from .tools/opencode: run "node scripts/setup.mjs"');
}

/** The demo project's opencode.json: the scripted LLM as the only provider (as the testkit writes it). */
function demoOpencodeConfig(llmUrl) {
  return {
    $schema: 'https://opencode.ai/config.json',
    provider: {
      demo: {
        npm: '@ai-sdk/openai-compatible',
        name: 'HAL demo LLM (scripted)',
        options: { baseURL: llmUrl, apiKey: 'demo' },
        // USD per million tokens: opencode prices each message with these, so the session view,
        // cost reports, budgets and the forecast show real numbers for the scripted model.
        models: {
          'fake-model': {
            name: 'Scripted demo model',
            cost: { input: 15, output: 75, cache_read: 1.5, cache_write: 18.75 },
          },
        },
      },
    },
    model: 'demo/fake-model',
    small_model: 'demo/fake-model',
    autoupdate: false,
    share: 'disabled',
    // bash asks: the demo's "list the files" turn waits for an approval (waiting_input).
    permission: { bash: 'ask', edit: 'allow' },
  };
}

/**
 * Waits until the demo node is online with its project (GET /api/v1/nodes), so the first
 * POST /api/v1/sessions finds it: posting earlier fails with PROJECT_NOT_FOUND, and every failed
 * attempt would stay in the audit log.
 */
async function waitForDemoNode(httpBase, token, project) {
  const deadline = Date.now() + 30_000;
  let last = 'no answer yet';
  while (Date.now() < deadline && !stopping) {
    try {
      const res = await fetch(`${httpBase}/api/v1/nodes`, {
        headers: { authorization: `Bearer ${token}` },
        signal: AbortSignal.timeout(2000),
      });
      const body = await res.json();
      if (res.status !== 200) last = `${res.status} ${body.error?.code}: ${body.error?.message}`;
      else {
        const nodes = body.data?.nodes ?? [];
        if (nodes.some((n) => n.status === 'online' && n.projects?.some((p) => p.name === project))) return;
        last = `no online node has project "${project}" yet`;
      }
    } catch (err) {
      last = String(err);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  if (!stopping) throw new Error(`the demo agent did not come online within 30 s: ${last}`);
}

/**
 * opencode loads a project on its first request for that directory, which can take longer than the
 * agent's per-call deadline on a slow machine; a read here (not through HAL, so nothing is audited)
 * pays that cost before the first session is created. Best effort: failures are the demo's to report.
 */
async function warmUpOpencode(ocUrl, projectDir) {
  try {
    await fetch(`${ocUrl}/session?directory=${encodeURIComponent(projectDir)}`, {
      signal: AbortSignal.timeout(60_000),
    });
  } catch {
    // the session start that follows says what is wrong
  }
}

/** Waits until the tracker has seen the session leave `starting` (its prompt reached opencode). */
async function waitForSessionStarted(httpBase, token, session) {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline && !stopping) {
    try {
      const res = await fetch(`${httpBase}/api/v1/sessions/${encodeURIComponent(session)}`, {
        headers: { authorization: `Bearer ${token}` },
        signal: AbortSignal.timeout(2000),
      });
      if (res.status === 200 && (await res.json()).data?.state !== 'starting') return;
    } catch {
      // not yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** One POST /api/v1/sessions (the node is known to be online with the project). */
async function startDemoSession(httpBase, token, project, title, prompt) {
  const res = await fetch(`${httpBase}/api/v1/sessions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ project, title, prompt }),
  });
  const body = await res.json();
  if (res.status === 201) return body.data;
  throw new Error(
    `could not start the demo session: ${res.status} ${body.error?.code}: ${body.error?.message}`,
  );
}

/**
 * The demo: the testkit's scripted LLM, a real `opencode serve` on the demo project pointed at
 * it, and a hal-agent watching that project — then one session with a prompt through the API, so
 * a fresh clone shows a node, a session, events and tokens at once. Returns lines to print; on a
 * problem it prints why and returns what it has (the supervisor keeps running).
 */
async function startDemo(httpBase, supervisorConfig, supervisorUrl) {
  const supervisorToken = supervisorConfig.server?.auth_token;
  let agentConfig;
  try {
    agentConfig = JSON.parse(readFileSync(agentConfigFile, 'utf8'));
  } catch (err) {
    return [`  demo          skipped: cannot read ${shown(agentConfigFile)} (${err.message})`];
  }
  // The agent's own node token (generated configs), or the shared token where that is allowed.
  const nodeToken = supervisorConfig.security?.node_tokens?.[agentConfig.node_id];
  const sharedAllowed = supervisorConfig.security?.require_node_tokens !== true && nodeToken === undefined;
  if (
    agentConfig.auth_token !== nodeToken &&
    !(sharedAllowed && agentConfig.auth_token === supervisorToken)
  ) {
    return [
      `  demo          skipped: auth_token in ${shown(agentConfigFile)} is not node ${agentConfig.node_id}'s token in ${shown(supervisorConfigFile)}`,
    ];
  }
  const project = agentConfig.projects?.[0];
  if (project === undefined) return ['  demo          skipped: the agent config lists no project'];
  const projectDir = resolve(root, project.directory);
  console.log('Starting the demo: scripted LLM, opencode serve, hal-agent, one session…');
  const ocPort = effective('HAL_OPENCODE_PORT', agentConfig.opencode_port, 4096);
  const manage = agentConfig.opencode?.manage === true;
  try {
    if (!manage && (await listening('127.0.0.1', ocPort))) {
      return [
        `  demo          skipped: port ${ocPort} is taken; set opencode_port in ${shown(agentConfigFile)}`,
      ];
    }
    const llmPort = await freePort();
    startChild('demo-llm', 'scripts/demo-llm.mjs', ['--port', String(llmPort)]);
    await waitFor('the scripted LLM', () => listening('127.0.0.1', llmPort), 20_000);
    const llmUrl = `http://127.0.0.1:${llmPort}/v1`;

    mkdirSync(projectDir, { recursive: true });
    writeFileSync(
      join(projectDir, 'opencode.json'),
      `${JSON.stringify(demoOpencodeConfig(llmUrl), null, 2)}\n`,
    );
    // Its own repository, so opencode does not take the whole checkout for the project.
    if (!existsSync(join(projectDir, '.git')))
      spawnSync('git', ['init', '-q', projectDir], { stdio: 'ignore' });
    if (!existsSync(join(projectDir, 'README.md'))) {
      writeFileSync(
        join(projectDir, 'README.md'),
        '# HAL-O-SWARM demo project\n\nWatched by the demo hal-agent.\n',
      );
    }
    const ocUrl = `http://127.0.0.1:${ocPort}`;
    if (!manage) {
      // Its own HOME under HAL_HOME: the demo never reads or writes the user's opencode settings.
      const home = join(halDir, 'opencode');
      const env = {
        ...process.env,
        HOME: home,
        XDG_CONFIG_HOME: join(home, '.config'),
        XDG_DATA_HOME: join(home, '.local', 'share'),
        XDG_STATE_HOME: join(home, '.local', 'state'),
        XDG_CACHE_HOME: join(home, '.cache'),
        OPENCODE_DISABLE_AUTOUPDATE: '1',
        OPENCODE_DISABLE_MODELS_FETCH: '1',
        OPENCODE_DISABLE_LSP_DOWNLOAD: '1',
      };
      for (const d of [env.XDG_CONFIG_HOME, env.XDG_DATA_HOME, env.XDG_STATE_HOME, env.XDG_CACHE_HOME]) {
        mkdirSync(d, { recursive: true });
      }
      startProcess(
        'opencode',
        opencodeBinary(),
        ['serve', '--port', String(ocPort), '--hostname', '127.0.0.1'],
        {
          cwd: projectDir,
          env,
        },
      );
      await waitFor(
        'opencode serve',
        async () => (await fetch(`${ocUrl}/global/health`, { signal: AbortSignal.timeout(1000) })).ok,
        60_000,
      );
    }
    // The agent reads HAL_OPENCODE_PORT itself; HAL_SUPERVISOR_URL follows HAL_SERVER__HOST/PORT.
    const agentEnv = { ...process.env };
    if (supervisorUrl !== undefined && envVar('HAL_SUPERVISOR_URL') === undefined)
      agentEnv.HAL_SUPERVISOR_URL = supervisorUrl;
    startChild('agent', 'services/agent/bin/hal-agent.js', ['--config', shown(agentConfigFile)], agentEnv);
    await waitForDemoNode(httpBase, supervisorToken, project.name);
    await warmUpOpencode(ocUrl, projectDir);
    const session = await startDemoSession(
      httpBase,
      supervisorToken,
      project.name,
      'HAL-O-SWARM demo',
      'Say hello to the newcomer and explain what they are looking at.',
    );
    // One at a time: two session creations racing on a cold opencode can each outlast the
    // agent's per-call deadline on a slow machine.
    await waitForSessionStarted(httpBase, supervisorToken, session.session);
    const asking = await startDemoSession(
      httpBase,
      supervisorToken,
      project.name,
      'HAL-O-SWARM demo: approve me',
      'List the files of the demo project.',
    );
    const cli = `npx halctl --supervisor-url ${httpBase} --auth-token <token>`;
    return [
      '',
      'Demo (stopped with everything else):',
      `  scripted LLM  ${llmUrl}   (log ${shown(join(halDir, 'logs', 'demo-llm.log'))})`,
      `  opencode      ${ocUrl}   project ${shown(projectDir)}${manage ? ' (managed by the agent)' : ''}`,
      `  hal-agent     node ${agentConfig.node_id ?? '(hostname)'}   (log ${shown(join(halDir, 'logs', 'agent.log'))})`,
      `  session       ${session?.session} in project ${session?.project}, prompted — watch it go busy → idle`,
      `  session       ${asking?.session} wants to run a command — it waits for you (waiting_input):`,
      `                ${cli} sessions get ${asking?.session}     (its pending permission id)`,
      `                ${cli} sessions approve ${asking?.session} <permission id>`,
      `  watch it      ${cli} sessions list`,
      `                ${cli} events tail --follow`,
      `  cost          ${cli} cost today --by session   (budgets: cost.budgets in ${shown(supervisorConfigFile)})`,
    ];
  } catch (err) {
    if (stopping) return [];
    console.error(`demo: ${err.message}; the supervisor keeps running (see ${logsDir}/)`);
    return [`  demo          failed to start (see the message above and ${logsDir}/)`];
  }
}

let stopping = false;
async function stopAll(exitCode) {
  if (stopping) return;
  stopping = true;
  // Reverse order: agents first, the supervisor (and with it nats-server) last.
  const running = children.filter((c) => c.child.exitCode === null && c.child.signalCode === null).reverse();
  await Promise.all(
    running.map(
      ({ child }) =>
        new Promise((resolve) => {
          const hard = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
          child.once('exit', () => {
            clearTimeout(hard);
            resolve();
          });
          child.kill('SIGTERM');
        }),
    ),
  );
  process.exitCode = exitCode;
}

/**
 * How to watch live events with the NATS CLI as the read-only `tap` user of the embedded server:
 * its password stays in <data_dir>/nats-credentials.json (0600) and is read there, never printed.
 */
function natsTapLines() {
  if (effective('HAL_NATS__URL', config.nats?.url, undefined) ?? envVar('HAL_NATS_URL')) return [];
  const dataDir = resolve(root, effective('HAL_DATA_DIR', config.data_dir, './.hal/data'));
  const credentials = join(dataDir, 'nats-credentials.json');
  let url;
  try {
    // The embedded server's URL as the supervisor logged it (its port moves when 4222 is taken).
    const log = readFileSync(join(halDir, 'logs', 'supervisor.log'), 'utf8');
    for (const line of log.split('\n')) {
      if (line.includes('"embedded nats-server started"')) url = JSON.parse(line).url;
    }
  } catch {
    return [];
  }
  if (url === undefined || !existsSync(credentials)) return [];
  const password = `"$(node -p "require('${credentials}').users.tap")"`;
  return [
    `  NATS tap      live events, read-only, with the NATS CLI (user tap; passwords in ${shown(credentials)}):`,
    `                nats context save hal-tap --server ${url} --user tap --password ${password}`,
    `                nats --context hal-tap sub 'hal.evt.>'`,
  ];
}

function listening(host, port) {
  return new Promise((resolve) => {
    const sock = createConnection({ host, port });
    const done = (ok) => {
      sock.destroy();
      resolve(ok);
    };
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

async function waitReady(url) {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline && !stopping) {
    try {
      if ((await fetch(url)).status === 200) return true;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}

for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => void stopAll(0));

const createdToken = ensureConfigs();
const config = JSON.parse(readFileSync(supervisorConfigFile, 'utf8'));
const httpHost = effective('HAL_SERVER__HTTP_HOST', config.server?.http_host, '127.0.0.1');
const httpPort = effective('HAL_SERVER__HTTP_PORT', config.server?.http_port, 8421);
const wsHost = effective('HAL_SERVER__HOST', config.server?.host, '127.0.0.1');
const wsPort = effective('HAL_SERVER__PORT', config.server?.port, 8420);
const httpBase = `http://${httpHost}:${httpPort}`;
// Only when the environment moved the agent endpoint: otherwise the agent config's own URL stands.
const supervisorUrl =
  envVar('HAL_SERVER__HOST') || envVar('HAL_SERVER__PORT') ? `ws://${wsHost}:${wsPort}` : undefined;

startChild('supervisor', 'services/supervisor/bin/hal-supervisor.js', [
  '--config',
  shown(supervisorConfigFile),
]);
if (!(await waitReady(`${httpBase}/readyz`))) {
  if (!stopping) {
    console.error(
      `the supervisor was not ready within ${READY_TIMEOUT_MS / 1000} s; see ${shown(join(halDir, 'logs', 'supervisor.log'))}`,
    );
    await stopAll(1);
  }
} else {
  const demoLines = await startDemo(httpBase, config, supervisorUrl);
  // The agent endpoint belongs to the gateway: advertise it only when something serves it.
  const agentsListening = await listening(wsHost, wsPort);
  const tokenLine = createdToken
    ? `  auth token    ${createdToken}   (shown once; stored in ${shown(supervisorConfigFile)})`
    : `  auth token    in ${shown(supervisorConfigFile)} (server.auth_token)`;
  console.log(
    [
      '',
      'HAL-O-SWARM is running.',
      `  dashboard     ${httpBase}/   (sign in with the auth token)`,
      `  health        ${httpBase}/healthz   ${httpBase}/readyz`,
      `  metrics       ${httpBase}/metrics   (Authorization: Bearer <token>)`,
      ...(agentsListening ? [`  agents        ws://${wsHost}:${wsPort}`] : []),
      tokenLine,
      `  logs          ${logsDir}/`,
      ...natsTapLines(),
      ...demoLines,
      '',
      'Try:',
      `  npx halctl --supervisor-url ${httpBase} --auth-token <token> nodes list`,
      '',
      'Ctrl-C stops everything.',
    ].join('\n'),
  );
}
