#!/usr/bin/env node
// `npm start` (after setup.mjs): writes a default config under ./.hal on the first run, runs the
// supervisor (and the demo, once wired), prints where everything is, and on Ctrl-C/SIGTERM stops
// every child it started before exiting — no orphan supervisor or nats-server.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const halDir = join(root, '.hal');
const supervisorConfigFile = join(halDir, 'supervisor.config.json');
const agentConfigFile = join(halDir, 'agent.config.json');
const STOP_GRACE_MS = 15_000;
const READY_TIMEOUT_MS = 30_000;

/** Writes the default configs once; returns the token when this run created it (printed once). */
function ensureConfigs() {
  mkdirSync(join(halDir, 'logs'), { recursive: true });
  let createdToken;
  if (!existsSync(supervisorConfigFile)) {
    createdToken = randomBytes(32).toString('hex');
    const config = { data_dir: './.hal/data', server: { auth_token: createdToken } };
    writeFileSync(supervisorConfigFile, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  }
  if (!existsSync(agentConfigFile)) {
    const token = JSON.parse(readFileSync(supervisorConfigFile, 'utf8')).server?.auth_token;
    mkdirSync(join(halDir, 'demo-project'), { recursive: true });
    const config = {
      node_id: 'demo-node',
      supervisor_url: 'ws://127.0.0.1:8420',
      auth_token: token,
      data_dir: './.hal/agent',
      projects: [{ name: 'demo', directory: './.hal/demo-project' }],
    };
    writeFileSync(agentConfigFile, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  }
  return createdToken;
}

const children = [];

/** Spawns a workspace bin from source; its JSON log lines go to .hal/logs/<name>.log. */
function startChild(name, bin, args) {
  const logFile = join(halDir, 'logs', `${name}.log`);
  const child = spawn(process.execPath, [join(root, bin), ...args], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  child.stdout.pipe(createWriteStream(logFile, { flags: 'a' }));
  children.push({ name, child, logFile });
  child.once('exit', (code, signal) => {
    if (!stopping) {
      console.error(`${name} exited (${signal ?? code}); see ${relative(root, logFile)}. Stopping.`);
      void stopAll(code || 1);
    }
  });
  return child;
}

/**
 * The demo: a hal-agent on a real `opencode serve` driven by the testkit's scripted LLM, so a
 * fresh clone shows live sessions. Not wired yet — the integrator adds it here with
 * startChild('agent', 'services/agent/bin/hal-agent.js', ['--config', agentConfigFile]) once
 * the gateway accepts agents. Returns lines to print.
 */
async function startDemo() {
  return [];
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
const httpHost = config.server?.http_host ?? '127.0.0.1';
const httpPort = config.server?.http_port ?? 8421;
const wsHost = config.server?.host ?? '127.0.0.1';
const wsPort = config.server?.port ?? 8420;
const httpBase = `http://${httpHost}:${httpPort}`;

startChild('supervisor', 'services/supervisor/bin/hal-supervisor.js', [
  '--config',
  relative(root, supervisorConfigFile),
]);
if (!(await waitReady(`${httpBase}/readyz`))) {
  if (!stopping) {
    console.error(
      `the supervisor was not ready within ${READY_TIMEOUT_MS / 1000} s; see .hal/logs/supervisor.log`,
    );
    await stopAll(1);
  }
} else {
  const demoLines = await startDemo();
  // The agent endpoint belongs to the gateway: advertise it only when something serves it.
  const agentsListening = await listening(wsHost, wsPort);
  const tokenLine = createdToken
    ? `  auth token    ${createdToken}   (shown once; stored in .hal/supervisor.config.json)`
    : '  auth token    in .hal/supervisor.config.json (server.auth_token)';
  console.log(
    [
      '',
      'HAL-O-SWARM is running.',
      `  health        ${httpBase}/healthz   ${httpBase}/readyz`,
      `  metrics       ${httpBase}/metrics   (Authorization: Bearer <token>)`,
      ...(agentsListening ? [`  agents        ws://${wsHost}:${wsPort}`] : []),
      tokenLine,
      `  logs          .hal/logs/`,
      ...demoLines,
      '',
      'Try:',
      `  npx halctl --supervisor-url ${httpBase} --auth-token <token> nodes list`,
      '',
      'Ctrl-C stops everything.',
    ].join('\n'),
  );
}
