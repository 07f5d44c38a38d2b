import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { Logger } from '@hal/observability';
import type Database from 'better-sqlite3';

/**
 * The WAL size at which the projection's own connection checkpoints after all (SQLite's
 * auto-checkpoint): only when the worker cannot keep up or is gone. 16,384 pages of 4 KiB = 64 MiB.
 */
const BACKSTOP_PAGES = 16_384;
/** SQLite's default auto-checkpoint, restored when the worker is gone. */
const DEFAULT_AUTOCHECKPOINT_PAGES = 1_000;

// CommonJS run by the worker (eval: no file of its own, so a bundled service carries it too). It
// opens its own connection to the file and copies committed WAL frames into it on request; a
// PASSIVE checkpoint never waits for and never blocks the projection's writes or the queries.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file, { fileMustExist: true });
db.pragma('busy_timeout = 5000');
db.pragma('synchronous = NORMAL');
parentPort.on('message', (message) => {
  if (message === 'close') {
    db.close();
    parentPort.close();
    return;
  }
  try {
    const [row] = db.pragma('wal_checkpoint(PASSIVE)');
    parentPort.postMessage({ ok: true, log: row.log, checkpointed: row.checkpointed });
  } catch (err) {
    parentPort.postMessage({ ok: false, message: String(err && err.message || err) });
  }
});
`;

type WorkerReply = { ok: true; log: number; checkpointed: number } | { ok: false; message: string };

export interface Checkpointer {
  /** A transaction was committed: the worker checkpoints (once at a time; requests meanwhile make one more). */
  committed(): void;
  /** Resolves once no checkpoint is running or asked for (tests). */
  idle(): Promise<void>;
  /** Closes the worker's connection and ends it; the projection's connection checkpoints by itself again. */
  stop(): Promise<void>;
}

/**
 * Moves WAL checkpoints off the projection's thread. SQLite's auto-checkpoint runs inside the
 * COMMIT that crosses 1,000 WAL pages, on the event loop: copying the pages into the database and
 * syncing both files took about a sixth of the projection's time. A worker thread with its own
 * connection checkpoints after each commit instead; the projection's connection keeps an
 * auto-checkpoint only as a backstop (BACKSTOP_PAGES), so the WAL stays bounded if the worker
 * falls behind or fails. Durability does not change: a commit is in the WAL either way (synchronous
 * = NORMAL), and SQLite's checkpoint is crash-safe wherever the process is killed.
 */
export function startCheckpointer(deps: { sqlite: Database.Database; log: Logger }): Checkpointer {
  const log = deps.log.child({ component: 'tracker-checkpointer' });
  const { sqlite } = deps;
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: { file: sqlite.name, driver: createRequire(import.meta.url).resolve('better-sqlite3') },
  });
  let running = false;
  let wanted = false;
  let gone = false;
  let idleWaiters: Array<() => void> = [];

  const settle = () => {
    if (running) return;
    const waiters = idleWaiters;
    idleWaiters = [];
    for (const w of waiters) w();
  };
  const request = () => {
    if (gone) return;
    running = true;
    wanted = false;
    worker.ref();
    worker.postMessage('checkpoint');
  };
  const exited = new Promise<void>((resolve) => {
    worker.once('exit', () => {
      gone = true;
      running = false;
      if (sqlite.open) sqlite.pragma(`wal_autocheckpoint = ${DEFAULT_AUTOCHECKPOINT_PAGES}`);
      settle();
      resolve();
    });
  });
  worker.on('error', (err) =>
    log.error({ err }, 'checkpoint worker failed; checkpointing on the main thread'),
  );
  worker.on('message', (reply: WorkerReply) => {
    running = false;
    if (!reply.ok) log.warn({ reason: reply.message }, 'checkpoint failed');
    if (wanted) request();
    else worker.unref();
    settle();
  });
  // Requests wait in the worker's queue while it starts: the projection does not wait for it.
  // Idle, it is never what keeps the process alive.
  worker.unref();
  sqlite.pragma(`wal_autocheckpoint = ${BACKSTOP_PAGES}`);

  return {
    committed() {
      if (running) wanted = true;
      else request();
    },
    idle() {
      return running ? new Promise((resolve) => idleWaiters.push(resolve)) : Promise.resolve();
    },
    async stop() {
      if (!gone) {
        worker.ref();
        worker.postMessage('close');
      }
      await exited;
    },
  };
}
