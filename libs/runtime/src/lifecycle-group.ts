import type { Lifecycle, Logger, Readiness } from '@hal/observability';

/** One step of a process: a connection, a server, a service. `name` is its `component` in logs. */
export interface LifecyclePart extends Lifecycle {
  readonly name: string;
}

export interface LifecycleGroupOptions {
  log: Logger;
  /**
   * While the group starts or stops, `/readyz` reports the check `lifecycle` as failing with the
   * part it is at (`starting gateway`), so no traffic reaches a process that is half up.
   */
  readiness?: Readiness;
}

export interface LifecycleGroup extends Lifecycle {
  /** Names of the parts running now, in start order. */
  running(): string[];
}

/** The readiness check a group holds while it is not fully up. */
export const LIFECYCLE_CHECK = 'lifecycle';

/**
 * A part created only when its turn comes, from what earlier parts made (a service needs the
 * NATS connection an earlier part opened). stop() is a no-op when it was never created.
 */
export function deferredPart(name: string, create: () => Lifecycle): LifecyclePart {
  let made: Lifecycle | undefined;
  return {
    name,
    async start() {
      made = create();
      await made.start();
    },
    async stop() {
      await made?.stop();
      made = undefined;
    },
  };
}

/**
 * Starts parts in order and stops them in reverse: the one lifecycle of every HAL binary (each
 * standalone service, the supervisor, the agent).
 *
 * - A part that failed to start is not stopped; the ones before it are, by stop().
 * - stop() during start() waits for the part being started, starts no more, then stops what
 *   runs — nothing starts on a connection that stop() is closing.
 * - Every part is stopped even when one fails to; stop() then rejects naming them.
 * - stop() is idempotent: a second call (a second Ctrl-C) waits for the first.
 */
export function createLifecycleGroup(
  parts: readonly LifecyclePart[],
  opts: LifecycleGroupOptions,
): LifecycleGroup {
  const { log, readiness } = opts;
  const running: LifecyclePart[] = [];
  let starting: Promise<void> | undefined;
  let stopping: Promise<void> | undefined;

  const hold = (detail: string) => readiness?.register(LIFECYCLE_CHECK, () => ({ ok: false, detail }));

  async function startAll(): Promise<void> {
    for (const part of parts) {
      if (stopping) {
        log.info({ component: part.name }, 'start abandoned: stopping');
        return;
      }
      hold(`starting ${part.name}`);
      await part.start();
      running.push(part);
      log.info({ component: part.name }, 'part started');
    }
    readiness?.unregister(LIFECYCLE_CHECK);
  }

  async function stopAll(): Promise<void> {
    // Let the part being started finish, so it is stopped too instead of left half up.
    await starting?.catch(() => undefined);
    const failed: string[] = [];
    for (const part of [...running].reverse()) {
      hold(`stopping ${part.name}`);
      try {
        await part.stop();
        log.info({ component: part.name }, 'part stopped');
      } catch (err) {
        failed.push(part.name);
        log.error({ err, component: part.name }, 'part failed to stop');
      }
    }
    running.length = 0;
    if (failed.length > 0) throw new Error(`failed to stop: ${failed.join(', ')}`);
  }

  return {
    running: () => running.map((p) => p.name),
    start() {
      if (stopping) return Promise.resolve();
      if (starting) return starting;
      starting = startAll();
      return starting;
    },
    stop() {
      stopping ??= stopAll();
      return stopping;
    },
  };
}
