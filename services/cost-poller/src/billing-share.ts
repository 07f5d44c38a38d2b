import { type KV, type NatsConnection, openKv } from '@hal/bus';
import type { Logger } from '@hal/observability';
import { COST_BILLING_KV_BUCKET } from '@hal/protocol';
import { z } from 'zod';
import type { CostStore, ProviderState } from './cost-store.ts';
import { DAY_MS, type DayRange, dayOf, dayStartMs, type ProviderReport } from './providers/report-rows.ts';

/** Where a poll's result goes: straight into this instance's store, or shared with every instance. */
export interface BillingSink {
  /** The days of `range` for one provider become exactly `report`. */
  report(provider: string, range: DayRange, report: ProviderReport): Promise<void>;
  status(s: {
    provider: string;
    state: ProviderState;
    reason: string | null;
    code: string | null;
    at: number;
  }): Promise<void>;
}

/** Writes the store directly: one instance, or tests of the poller alone. */
export function storeSink(store: CostStore): BillingSink {
  return {
    async report(provider, range, report) {
      store.replaceProviderDays(provider, range, report);
    },
    async status(s) {
      store.setProviderStatus(s);
    },
  };
}

const count = z.number().int().nonnegative();
const dayValueSchema = z.object({
  usage: z.array(
    z.object({
      day: z.string(),
      model: z.string(),
      scopeId: z.string(),
      apiKeyId: z.string(),
      input: count,
      output: count,
      cacheRead: count,
      cacheWrite: count,
      requests: count,
    }),
  ),
  cost: z.array(
    z.object({
      day: z.string(),
      model: z.string(),
      scopeId: z.string(),
      lineItem: z.string(),
      micros: z.number().int(),
    }),
  ),
});
const statusValueSchema = z.object({
  provider: z.string(),
  state: z.enum(['ok', 'degraded']),
  reason: z.string().nullable(),
  code: z.string().nullable(),
  at: z.number(),
});

/** `d.<provider>.<day>` holds one provider-day; `s.<provider>` its last poll's status. */
const dayKey = (provider: string, day: string) => `d.${provider}.${day}`;
const statusKey = (provider: string) => `s.${provider}`;

export interface BillingShare extends BillingSink {
  /** Starts projecting the bucket (everything in it first, then every change) into the store. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Provider billing shared by every cost-poller instance through KV `HAL_COST_BILLING`: the leader
 * writes each provider-day it read (and each provider's status), and every instance — the leader
 * too, through the same path — projects the bucket into its own SQLite. So a standby answers
 * `hal.q.cost.*` with the billed figures the leader read, and takes over with them. A write
 * resolves once this instance's own store holds it, so a poll is visible when it returns.
 */
export async function openBillingShare(deps: {
  nc: NatsConnection;
  store: CostStore;
  log: Logger;
  replicas?: number | undefined;
  /** After a change was applied (budgets re-evaluate, the gauge is refreshed). */
  onApplied?: () => void;
}): Promise<BillingShare> {
  const log = deps.log.child({ component: 'billing-share' });
  const kv: KV = await openKv(deps.nc, COST_BILLING_KV_BUCKET, {
    history: 1,
    ...(deps.replicas === undefined ? {} : { replicas: deps.replicas }),
  });
  let applied = 0;
  const waiters: Array<{ revision: number; resolve: () => void }> = [];
  let watching: { stop(): void } | undefined;
  let loop: Promise<void> | undefined;

  function apply(key: string, value: unknown): void {
    const [kind, provider, day] = key.split('.');
    if (kind === 'd' && provider !== undefined && day !== undefined) {
      const rows = dayValueSchema.parse(value);
      deps.store.replaceProviderDays(provider, { from: day, to: day }, rows);
    } else if (kind === 's') {
      deps.store.setProviderStatus(statusValueSchema.parse(value));
    }
  }

  function settle(revision: number): void {
    applied = Math.max(applied, revision);
    for (let i = waiters.length - 1; i >= 0; i--) {
      const w = waiters[i]!;
      if (w.revision <= applied) {
        waiters.splice(i, 1);
        w.resolve();
      }
    }
  }

  const appliedHere = (revision: number) =>
    revision <= applied
      ? Promise.resolve()
      : new Promise<void>((resolve) => waiters.push({ revision, resolve }));

  return {
    async start() {
      const iter = await kv.watch({ key: '>' });
      watching = iter;
      loop = (async () => {
        for await (const e of iter) {
          if (e.operation === 'PUT') {
            try {
              apply(e.key, e.json());
              deps.onApplied?.();
            } catch (err) {
              log.warn({ err, key: e.key }, 'billing entry not applied');
            }
          }
          settle(e.revision);
        }
      })().catch((err: unknown) => log.error({ err }, 'billing watch stopped'));
    },
    async stop() {
      watching?.stop();
      await loop;
      for (const w of waiters.splice(0)) w.resolve();
    },
    async report(provider, range, report) {
      let revision = 0;
      for (let t = dayStartMs(range.from); t <= dayStartMs(range.to); t += DAY_MS) {
        const day = dayOf(t);
        const value = {
          usage: report.usage.filter((u) => u.day === day),
          cost: report.cost.filter((c) => c.day === day),
        };
        revision = await kv.put(dayKey(provider, day), JSON.stringify(value));
      }
      await appliedHere(revision);
    },
    async status(s) {
      await appliedHere(await kv.put(statusKey(s.provider), JSON.stringify(s)));
    },
  };
}
