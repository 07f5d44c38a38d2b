import type { JetStreamClient } from '@hal/bus';
import type { Logger } from '@hal/observability';
import { StreamName } from '@hal/protocol';
import { z } from 'zod';
import type { NodeFacts, SessionFacts } from './facts.ts';
import { KeyPrefix, type StateStore } from './state-store.ts';

/** The HAL_POLICY key of the record below. */
const EPOCH_KEY = 'stream.events';

const epochSchema = z.object({
  /** HAL_EVENTS' `created`, as the server reports it: a stream deleted and made again differs. */
  created: z.string(),
  /** Added to this stream's seqs to give the positions facts record. */
  offset: z.number().int().nonnegative(),
});
type Epoch = z.infer<typeof epochSchema>;

/**
 * The offset from HAL_EVENTS stream seqs to the positions the facts record (`seq` in facts.ts),
 * read when an instance starts leading.
 *
 * Facts recognise a replay by position: at or below the one they hold, the event was handled. A
 * stream deleted and made again (an operator's `nats stream rm`, a move to other storage) starts
 * its seqs at 1 again, and without an offset every session's new events would look like replays
 * until the new seqs passed the old ones: no resume, no restart, no notification for hours. So each
 * stream HAL_EVENTS has been gets an offset past every position recorded before it, and positions
 * only grow. The stream the policy first met keeps offset 0: facts written before this record
 * existed hold its plain seqs.
 */
export async function eventsOffset(deps: {
  js: JetStreamClient;
  store: StateStore;
  log: Logger;
}): Promise<number> {
  const jsm = await deps.js.jetstreamManager();
  const { created } = await jsm.streams.info(StreamName.EVENTS);
  const stored = await deps.store.get<unknown>(EPOCH_KEY);
  const known = epochSchema.safeParse(stored?.value);
  if (known.success && known.data.created === created) return known.data.offset;
  // First start (no record): this stream's seqs are the positions. Otherwise the stream is new:
  // past the highest position any facts hold.
  const offset = stored === undefined ? 0 : await highestPosition(deps.store);
  const epoch: Epoch = { created, offset };
  // A lost race means another leader wrote the record for this stream just now: read its offset.
  const result = await deps.store.mutate<Epoch, number>(EPOCH_KEY, (cur) => {
    const same = epochSchema.safeParse(cur);
    return same.success && same.data.created === created
      ? { result: same.data.offset }
      : { value: epoch, result: offset };
  });
  if (stored !== undefined) {
    deps.log.warn(
      { stream: StreamName.EVENTS, created, was: known.success ? known.data.created : null, offset: result },
      'HAL_EVENTS was made anew: its events are positioned after every event handled before',
    );
  }
  return result;
}

async function highestPosition(store: StateStore): Promise<number> {
  let highest = 0;
  for (const prefix of [KeyPrefix.SESSION, KeyPrefix.NODE]) {
    for (const key of await store.keys(prefix)) {
      const seq = (await store.get<SessionFacts | NodeFacts>(key))?.value.seq;
      if (typeof seq === 'number' && seq > highest) highest = seq;
    }
  }
  return highest;
}
