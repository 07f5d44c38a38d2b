// Simulated agent hosts for scale.bench.ts, run inside an `agents` child: plain `ws` clients
// speaking the agent protocol (hello → welcome, `events` frames, cumulative `ack`s), as the
// gateway's tests and gateway.bench.ts do. A real hal-agent with its spool costs a disk and an
// opencode per host; a thousand of those do not fit on this machine, a thousand sockets do.
import { randomUUID } from 'node:crypto';
import { formatProtocolVersion, makeEnvelope, WIRE_PROTOCOL } from '@hal/protocol';
import WebSocket from 'ws';

export interface SimAgentsOptions {
  url: string;
  token: string;
  count: number;
  /** Node ids are `<prefix><i>`. */
  prefix: string;
  /** Sessions per agent its events are spread over. */
  sessions: number;
  /** false: just hold the socket open (the raw ws server speaks no protocol). */
  hello: boolean;
}

interface SimAgent {
  node: string;
  ws: WebSocket;
  seq: number;
  acked: number;
  onAck?: () => void;
}

/** Opens in batches of 50 (a thousand at once trips loopback's accept backlog). */
const OPEN_BATCH = 50;
const TEXT = 'x'.repeat(120);

/** The first frame of a fresh agent: no projects yet, nothing acked. */
export function helloFrame(node: string): string {
  return JSON.stringify(
    makeEnvelope('hello', {
      node,
      agent_version: 'bench',
      protocol: formatProtocolVersion(WIRE_PROTOCOL),
      projects: [],
      last_acked_seq: 0,
    }),
  );
}

export function createSimAgents(opts: SimAgentsOptions) {
  const agents: SimAgent[] = [];
  let steady: NodeJS.Timeout | undefined;
  let closed = 0;

  function event(agent: SimAgent, i: number): Record<string, unknown> {
    agent.seq++;
    return {
      version: 1,
      id: randomUUID(),
      seq: agent.seq,
      node: agent.node,
      project: 'bench',
      session: `ses_${agent.node}_${i % opts.sessions}`,
      type: 'message.part',
      time: new Date().toISOString(),
      data: {
        message_id: `msg_${agent.seq >> 4}`,
        part_id: `prt_${agent.seq}`,
        role: 'assistant',
        part_type: 'text',
        text: TEXT,
      },
    };
  }

  function open(i: number): Promise<SimAgent> {
    const node = `${opts.prefix}${i}`;
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(opts.url, {
        headers: { authorization: `Bearer ${opts.token}`, 'x-hal-node': node },
      });
      const agent: SimAgent = { node, ws, seq: 0, acked: 0 };
      ws.on('message', (data) => {
        const frame = JSON.parse(String(data)) as { type: string; payload: { seq: number } };
        if (frame.type === 'welcome') resolve(agent);
        else if (frame.type === 'ack') {
          agent.acked = Math.max(agent.acked, frame.payload.seq);
          agent.onAck?.();
        }
      });
      ws.once('error', reject);
      ws.once('close', () => {
        closed++;
      });
      ws.once('open', () => {
        if (!opts.hello) {
          resolve(agent);
          return;
        }
        ws.send(helloFrame(node));
      });
    });
  }

  /** Sends `perAgent` events from every agent in frames of `batch`, at most `window` unacked each. */
  function burst(agent: SimAgent, perAgent: number, batch: number, window: number): Promise<void> {
    const last = agent.seq + perAgent;
    return new Promise((resolve) => {
      const pump = (): void => {
        while (agent.seq < last && agent.seq - agent.acked < window) {
          const events = [];
          for (let k = 0; k < batch && agent.seq < last; k++) events.push(event(agent, agent.seq));
          agent.ws.send(JSON.stringify(makeEnvelope('events', { events })));
        }
        if (agent.acked >= last) {
          agent.onAck = undefined;
          resolve();
        }
      };
      agent.onAck = pump;
      pump();
    });
  }

  function stats() {
    let sent = 0;
    let acked = 0;
    for (const a of agents) {
      sent += a.seq;
      acked += a.acked;
    }
    return { agents: agents.length, closed, sent, acked, unacked: sent - acked };
  }

  return {
    async open(): Promise<{ open: number }> {
      for (let i = agents.length; i < opts.count; i += OPEN_BATCH) {
        const batch: Array<Promise<SimAgent>> = [];
        for (let j = i; j < Math.min(i + OPEN_BATCH, opts.count); j++) batch.push(open(j));
        agents.push(...(await Promise.all(batch)));
      }
      return { open: agents.length };
    },
    async burst(args: { perAgent: number; batch: number; window: number }) {
      const start = performance.now();
      await Promise.all(agents.map((a) => burst(a, args.perAgent, args.batch, args.window)));
      return { sent: agents.length * args.perAgent, elapsedMs: performance.now() - start };
    },
    /**
     * `rate` events/s in all, one event per frame, as a host streaming text parts sends them:
     * every 100 ms a tenth of a second's worth, round-robin over the agents and their sessions.
     */
    steady(args: { rate: number }) {
      const perTick = Math.max(1, Math.round(args.rate / 10));
      let next = 0;
      steady = setInterval(() => {
        for (let k = 0; k < perTick; k++) {
          const agent = agents[next % agents.length]!;
          next++;
          if (agent.ws.readyState !== WebSocket.OPEN) continue;
          agent.ws.send(JSON.stringify(makeEnvelope('events', { events: [event(agent, agent.seq)] })));
        }
      }, 100);
      return { perTick };
    },
    stopSteady() {
      clearInterval(steady);
      steady = undefined;
      return stats();
    },
    stats,
    close() {
      clearInterval(steady);
      for (const a of agents) a.ws.terminate();
      return { closed: agents.length };
    },
  };
}
