import { randomUUID } from 'node:crypto';
import type { EventRecord } from '@hal/protocol';

/** Well-formed event records for one node, with increasing agent sequence and time. */
export function eventFactory(node = 'node-a', project = 'proj', start = Date.parse('2026-11-20T10:00:00Z')) {
  let seq = 0;
  let clock = start;
  return function make(
    type: string,
    session: string | null,
    data: Record<string, unknown> = {},
    overrides: Partial<EventRecord> = {},
  ): EventRecord {
    seq += 1;
    clock += 1000;
    return {
      version: 1,
      id: randomUUID(),
      seq,
      node,
      project: session === null ? '' : project,
      session,
      type,
      time: new Date(clock).toISOString(),
      data,
      ...overrides,
    };
  };
}

export const usage = (input: number, output: number, cacheRead = 0) => ({
  input,
  output,
  reasoning: 0,
  cache_read: cacheRead,
  cache_write: 0,
});
