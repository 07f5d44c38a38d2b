import type { Logger } from 'pino';
import { createLease, type Lease, type LeaseOptions } from './lease.ts';

/** What only the leader runs: started when this instance takes the lease, stopped when it loses it. */
export interface LeaderWork {
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface LeaderRoleOptions extends Omit<LeaseOptions, 'onAcquired' | 'onLost' | 'log'> {
  log: Logger;
  work: LeaderWork;
  /** Told every change (true: this instance now leads), after the work started or stopped. */
  onChange?: (leader: boolean) => void;
}

export interface LeaderRole {
  /** Starts contending; when the lease is taken at the first attempt the work has started on return. */
  start(): Promise<void>;
  /** Stops the work while still holding the lease (nobody else starts meanwhile), then releases it. */
  stop(): Promise<void>;
  /** Checked right before each act: false as soon as the lease's validity ran out, even mid-stall. */
  isLeader(): boolean;
  /** True between the work's start and stop (it may still be running while isLeader() is false). */
  isWorking(): boolean;
  readonly lease: Lease;
}

/**
 * Runs `work` on exactly one instance: the holder of a lease. Starts and stops are serialised, so a
 * lease lost while the work is starting stops it right after. A work that fails to start gives the
 * lease up, so another instance may try.
 */
export function createLeaderRole(opts: LeaderRoleOptions): LeaderRole {
  const log = opts.log.child({ component: 'leader', lease: opts.key });
  let chain: Promise<void> = Promise.resolve();
  let working = false;
  let stopping = false;

  const enqueue = (step: () => Promise<void>): Promise<void> => {
    chain = chain.then(step).catch((err: unknown) => log.error({ err }, 'leader transition failed'));
    return chain;
  };

  const stopWork = async (): Promise<void> => {
    if (!working) return;
    working = false;
    try {
      await opts.work.stop();
    } finally {
      opts.onChange?.(false);
    }
  };

  const lease: Lease = createLease({
    ...opts,
    onAcquired: () =>
      void enqueue(async () => {
        if (working || stopping || !lease.isHeld()) return;
        try {
          await opts.work.start();
          working = true;
          log.info('leading');
          opts.onChange?.(true);
        } catch (err) {
          log.error({ err }, 'leader work failed to start; giving the lease up');
          await opts.work.stop().catch(() => undefined);
          await lease.resign();
        }
      }),
    onLost: (reason) =>
      void enqueue(async () => {
        log.warn({ reason }, 'no longer leading; stopping the leader work');
        await stopWork();
      }),
  });

  return {
    lease,
    async start() {
      stopping = false;
      await lease.start();
      await chain;
    },
    async stop() {
      stopping = true;
      await enqueue(stopWork);
      await lease.stop();
    },
    isLeader: () => lease.isHeld(),
    isWorking: () => working,
  };
}
