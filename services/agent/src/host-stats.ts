import { statfs } from 'node:fs/promises';
import { cpus, freemem, loadavg, totalmem, uptime } from 'node:os';
import type { HeartbeatPayload } from '@hal/protocol';

export interface HostStatsDeps {
  dataDir: string;
  /** The last known answer: a heartbeat never waits on opencode (see opencode-health.ts). */
  opencodeOk(): boolean;
  sessions(): number;
  spoolDepth(): number;
}

/** The heartbeat payload: host load, memory, disk of the data dir, and whether opencode answers. */
export async function collectHostStats(deps: HostStatsDeps): Promise<HeartbeatPayload> {
  const payload: HeartbeatPayload = {
    load: loadavg(),
    mem_total_bytes: totalmem(),
    mem_free_bytes: freemem(),
    cpus: cpus().length,
    opencode_ok: deps.opencodeOk(),
    sessions: deps.sessions(),
    spool_depth: deps.spoolDepth(),
    uptime_sec: Math.round(uptime()),
  };
  try {
    const fs = await statfs(deps.dataDir);
    payload.disk_total_bytes = fs.blocks * fs.bsize;
    payload.disk_free_bytes = fs.bavail * fs.bsize;
  } catch {
    // The data dir may be gone or on a filesystem without statfs; the heartbeat still goes out.
  }
  return payload;
}
