import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const FILE = 'instance-id';
const VALID = /^[A-Za-z0-9-]{8,128}$/;

/**
 * This installation's persistent id, kept in `<data_dir>/instance-id` (created once, mode 0600).
 * The gateway tells the same agent reconnecting (it takes its old socket over) from another
 * host claiming the same node id (cloned VMs and containers share a host name): that one is
 * refused with NODE_ID_IN_USE instead of the two replacing each other.
 */
export function loadInstanceId(dataDir: string): string {
  const file = join(dataDir, FILE);
  try {
    const id = readFileSync(file, 'utf8').trim();
    if (VALID.test(id)) return id;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  mkdirSync(dataDir, { recursive: true });
  const id = randomUUID();
  // 'wx': two agents started at once on one data dir must not both write; the loser reads.
  try {
    writeFileSync(file, `${id}\n`, { mode: 0o600, flag: 'wx' });
    return id;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    const existing = readFileSync(file, 'utf8').trim();
    if (VALID.test(existing)) return existing;
    writeFileSync(file, `${id}\n`, { mode: 0o600 });
    return id;
  }
}
