import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

/** The file in data_dir that keeps a generated instance id. */
export const INSTANCE_ID_FILE = 'instance-id';

/** One NATS token that is also a valid durable consumer name. */
const VALID_ID = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * This instance's stable id, which names its durable consumers (`hal-tracker-<id>`) and its lease
 * holds: the configured `instance_id` when there is one (a StatefulSet pod name), else the id kept
 * in `<dataDir>/instance-id`, else a new one (host name + random) written there. Kept beside the
 * databases because what it names — a projection's consumer — must follow the projection's file:
 * a copied or restored data_dir keeps its consumer, a fresh one gets a new consumer.
 */
export function resolveInstanceId(opts: { configured?: string | undefined; dataDir: string }): string {
  if (opts.configured !== undefined) {
    if (!VALID_ID.test(opts.configured))
      throw new Error(`instance_id "${opts.configured}" must be 1-64 letters, digits, "-" or "_"`);
    return opts.configured;
  }
  const file = join(opts.dataDir, INSTANCE_ID_FILE);
  const kept = readKept(file);
  if (kept !== undefined) return kept;
  mkdirSync(opts.dataDir, { recursive: true });
  const host =
    hostname()
      .replace(/[^A-Za-z0-9_-]/g, '-')
      .slice(0, 40) || 'hal';
  const id = `${host}-${randomBytes(4).toString('hex')}`;
  try {
    // `wx`: two services of one process (or a racing second process) keep the first id written.
    writeFileSync(file, `${id}\n`, { flag: 'wx', mode: 0o644 });
    return id;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    const other = readKept(file);
    if (other === undefined) throw new Error(`${file} exists but holds no valid instance id`);
    return other;
  }
}

function readKept(file: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8').trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  if (!VALID_ID.test(text))
    throw new Error(`${file} holds no valid instance id (remove it to make a new one)`);
  return text;
}
