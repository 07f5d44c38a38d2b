// Two regions as docs/DEPLOYMENT.md §5 describes them: region A a 3-server JetStream cluster,
// region B NATS without JetStream, joined into one supercluster by NATS gateways. The
// nats-server configs written here are the documented ones, on loopback ports and without TLS.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ServiceEntry } from '@hal/runtime';
import {
  freePort,
  type NatsCluster,
  type NatsServer,
  startNats,
  startNatsCluster,
  tempDir,
} from '@hal/testkit';
import {
  type ClusterStack,
  type GatewayProcess,
  startClusterStack,
  startGatewayProcess,
} from './cluster-harness.ts';

export interface Regions {
  /** Region A: three JetStream servers, cluster `region-a`. */
  a: NatsCluster;
  /** Region B: one server without JetStream, cluster `region-b`. */
  b: NatsServer;
  stop(): Promise<void>;
}

/** Starts both regions, their configs written into `dir` (which the caller removes). */
export async function startRegions(dir: string): Promise<Regions> {
  const gwA = await Promise.all([freePort(), freePort(), freePort()]);
  const [gwB, routeB] = [await freePort(), await freePort()];
  const gatewayUrls = (ports: number[]) => ports.map((p) => `"nats://127.0.0.1:${p}"`).join(', ');
  const confA = gwA.map((port, i) => {
    const file = join(dir, `region-a-${i + 1}.conf`);
    writeFileSync(
      file,
      `gateway {\n  name: region-a\n  listen: "127.0.0.1:${port}"\n  gateways: [ { name: region-b, urls: [${gatewayUrls([gwB])}] } ]\n}\n`,
    );
    return file;
  });
  const confB = join(dir, 'region-b.conf');
  writeFileSync(
    confB,
    `server_name: region-b-1\ncluster { name: region-b, listen: "127.0.0.1:${routeB}" }\ngateway {\n  name: region-b\n  listen: "127.0.0.1:${gwB}"\n  gateways: [ { name: region-a, urls: [${gatewayUrls(gwA)}] } ]\n}\n`,
  );
  const [a, b] = await Promise.all([
    startNatsCluster(3, { name: 'region-a', nodeArgs: (i) => ['-c', confA[i] ?? ''] }),
    // No JetStream in region B: the meta group stays within region A, so B can never cost it quorum.
    startNats({ jetstream: false, args: ['-c', confB] }),
  ]);
  return {
    a,
    b,
    stop: async () => {
      await Promise.all([a.stop(), b.stop()]);
    },
  };
}

export interface Federation {
  regions: Regions;
  /** The control plane in region A (in this process): tracker, policy, cost-poller, gateway, API. */
  stack: ClusterStack;
  /** Region B's `hal-gateway` (a process of its own) on region B's NATS only; it serves an API too. */
  gatewayB: GatewayProcess;
  /** Removed when the test process exits. */
  dir: string;
  /** Registers a teardown; close() runs them newest first, before the stack and the regions. */
  defer(cleanup: () => Promise<unknown> | unknown): void;
  close(): Promise<void>;
}

/** Both regions, the control plane in region A (`services` of it, `config` on top) and region B's gateway. */
export async function startFederation(
  opts: { services?: readonly ServiceEntry[]; config?: Record<string, unknown> } = {},
): Promise<Federation> {
  const dir = tempDir('hal-federation-');
  const cleanups: Array<() => Promise<unknown> | unknown> = [];
  const close = async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  };
  try {
    const regions = await startRegions(dir);
    cleanups.push(() => regions.stop());
    const stack = await startClusterStack({ cluster: regions.a, dir, ...opts });
    cleanups.push(() => stack.close());
    const gatewayB = await startGatewayProcess({ natsUrl: regions.b.url, replicas: 3, dir, name: 'gw-b' });
    cleanups.push(() => gatewayB.stop());
    return { regions, stack, gatewayB, dir, defer: (c) => cleanups.push(c), close };
  } catch (err) {
    await close();
    throw err;
  }
}
