import { type NatsServer, startNats } from './nats.ts';
import { freePort } from './net.ts';
import { waitFor } from './wait-for.ts';

export interface StartNatsClusterOptions {
  /** `cluster_name` of every node. Default `hal-test`. */
  name?: string;
  /** Binary name or path. Default `nats-server` from PATH. */
  binary?: string;
  /** How long each node may take to accept connections. Default 10 s. */
  startTimeoutMs?: number;
  /** How long the nodes may take to elect a JetStream meta leader with every peer current. Default 30 s. */
  formTimeoutMs?: number;
  /** Extra command-line arguments for every node. */
  args?: string[];
  /**
   * Extra arguments of node `index` (0-based), after `args`: e.g. `-c` with a config file holding
   * that node's own `gateway {}` block when the cluster is one region of a supercluster.
   */
  nodeArgs?: (index: number) => string[];
}

/** One node of the cluster: a NatsServer (kill, restart on its own store) with its name and monitor port. */
export interface NatsClusterNode extends NatsServer {
  /** `server_name`: n1, n2, … — the names JetStream reports as leaders and peers. */
  readonly name: string;
  /** HTTP monitoring port (`/jsz`, `/routez`). */
  readonly monitorPort: number;
}

export interface NatsCluster {
  readonly nodes: readonly NatsClusterNode[];
  /** Every node's client URL, comma-separated: what `nats.url` and connectBus take. */
  readonly url: string;
  /** The node with this server name. */
  node(name: string): NatsClusterNode;
  /**
   * Waits until every node that answers agrees on one JetStream meta leader and the leader sees
   * each of them as current; returns the leader's name. A killed node is simply not asked, so
   * this also tells when the rest have re-elected, and after a restart when the node is back in.
   */
  waitForMetaLeader(opts?: { timeoutMs?: number }): Promise<string>;
  /** How many messages `stream` holds in `node`'s own store (`/jsz`), undefined when it holds no copy. */
  streamMessagesOn(node: string, stream: string): Promise<number | undefined>;
  /**
   * The node a client connection named `connectionName` is attached to now (`/connz`), so a test
   * can kill exactly the node under a given service. Undefined when no running node has it.
   */
  nodeOfClient(connectionName: string): Promise<string | undefined>;
  /** Stops every node and removes the stores. */
  stop(): Promise<void>;
}

interface MetaCluster {
  leader?: string;
  replicas?: Array<{ name: string; current?: boolean; offline?: boolean }>;
}

interface Jsz {
  meta_cluster?: MetaCluster;
  account_details?: Array<{
    stream_detail?: Array<{ name: string; state?: { messages?: number } }>;
  }>;
}

async function jsz(port: number, query = ''): Promise<Jsz | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/jsz${query}`, { signal: AbortSignal.timeout(2_000) });
    return res.ok ? ((await res.json()) as Jsz) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Starts `n` real nats-server processes on loopback (free ports), each with JetStream on a store
 * of its own, joined by cluster routes as a k8s StatefulSet would be; resolves once JetStream has
 * a meta leader and every peer is current, so an R3 stream can be created at once.
 */
export async function startNatsCluster(n = 3, opts: StartNatsClusterOptions = {}): Promise<NatsCluster> {
  if (!Number.isInteger(n) || n < 1)
    throw new Error(`startNatsCluster: n must be a positive integer, not ${n}`);
  const clusterName = opts.name ?? 'hal-test';
  const routePorts = await Promise.all(Array.from({ length: n }, () => freePort()));
  const monitorPorts = await Promise.all(Array.from({ length: n }, () => freePort()));
  const routes = routePorts.map((p) => `nats://127.0.0.1:${p}`).join(',');
  const started = await Promise.allSettled(
    routePorts.map((routePort, i) =>
      startNats({
        ...(opts.binary === undefined ? {} : { binary: opts.binary }),
        ...(opts.startTimeoutMs === undefined ? {} : { startTimeoutMs: opts.startTimeoutMs }),
        args: [
          '--server_name',
          `n${i + 1}`,
          '--cluster_name',
          clusterName,
          '--cluster',
          `nats://127.0.0.1:${routePort}`,
          '--routes',
          routes,
          '-m',
          String(monitorPorts[i]),
          ...(opts.args ?? []),
          ...(opts.nodeArgs?.(i) ?? []),
        ],
      }),
    ),
  );
  const servers = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed !== undefined) {
    await Promise.all(servers.map((s) => s.stop()));
    throw failed.reason;
  }
  const nodes: NatsClusterNode[] = servers.map((server, i) =>
    Object.assign(server, { name: `n${i + 1}`, monitorPort: monitorPorts[i] ?? 0 }),
  );
  const byName = (name: string): NatsClusterNode => {
    const node = nodes.find((x) => x.name === name);
    if (node === undefined)
      throw new Error(`startNatsCluster: no node "${name}" (have ${nodes.map((x) => x.name).join(', ')})`);
    return node;
  };

  async function currentLeader(): Promise<string | undefined> {
    const answers = (
      await Promise.all(nodes.map(async (node) => ({ node, z: await jsz(node.monitorPort) })))
    ).filter((a): a is { node: NatsClusterNode; z: Jsz } => a.z !== undefined);
    // A majority must be up for JetStream to have a leader at all.
    if (answers.length <= n / 2) return undefined;
    const leaders = new Set(answers.map((a) => a.z.meta_cluster?.leader));
    const [leader] = [...leaders];
    if (leaders.size !== 1 || leader === undefined || leader === '') return undefined;
    const fromLeader = answers.find((a) => a.node.name === leader);
    if (fromLeader === undefined) return undefined;
    const replicas = fromLeader.z.meta_cluster?.replicas ?? [];
    const allCurrent = answers
      .filter((a) => a.node.name !== leader)
      .every((a) => replicas.some((r) => r.name === a.node.name && r.current === true && r.offline !== true));
    return allCurrent ? leader : undefined;
  }

  const cluster: NatsCluster = {
    nodes,
    url: nodes.map((x) => x.url).join(','),
    node: byName,
    waitForMetaLeader(o = {}) {
      const timeoutMs = o.timeoutMs ?? opts.formTimeoutMs ?? 30_000;
      return waitFor(currentLeader, {
        timeoutMs,
        intervalMs: 100,
        message: `the ${n}-node NATS cluster never agreed on a JetStream meta leader with every running peer current`,
      });
    },
    async streamMessagesOn(name, stream) {
      const z = await jsz(byName(name).monitorPort, '?accounts=true&streams=true');
      if (z === undefined) throw new Error(`node ${name} does not answer on its monitor port`);
      for (const account of z.account_details ?? []) {
        const found = account.stream_detail?.find((s) => s.name === stream);
        if (found !== undefined) return found.state?.messages ?? 0;
      }
      return undefined;
    },
    async nodeOfClient(connectionName) {
      for (const node of nodes) {
        try {
          const res = await fetch(`http://127.0.0.1:${node.monitorPort}/connz?limit=1024`, {
            signal: AbortSignal.timeout(2_000),
          });
          const body = (await res.json()) as { connections?: Array<{ name?: string }> };
          if (body.connections?.some((c) => c.name === connectionName)) return node.name;
        } catch {
          // a killed node: not there
        }
      }
      return undefined;
    },
    async stop() {
      await Promise.all(nodes.map((x) => x.stop()));
    },
  };
  try {
    await cluster.waitForMetaLeader();
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}
