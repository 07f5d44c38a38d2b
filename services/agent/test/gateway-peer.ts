import { once } from 'node:events';
import type { IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Envelope, type EventRecord, makeEnvelope, type WsPayload } from '@hal/protocol';
import { type WebSocket, WebSocketServer } from 'ws';

/** One accepted connection as the peer saw it. */
export interface PeerConnection {
  /** When the socket was accepted (ms since epoch). */
  at: number;
  url: string;
  headers: IncomingHttpHeaders;
  frames: Envelope[];
  socket: WebSocket;
}

/**
 * A minimal gateway for the agent's tests (the real one is another service): answers hello with
 * welcome, records every frame, acks events (unless told not to), sends commands, drops sockets.
 */
export interface GatewayPeer {
  url: string;
  connections: PeerConnection[];
  /** Every event record received, across connections, in arrival order (resends included). */
  events: EventRecord[];
  autoAck: boolean;
  last(): PeerConnection | undefined;
  framesOf(type: string): Envelope[];
  ack(seq: number): void;
  sendCommand(payload: unknown): void;
  /** Resolves with the command.result payload of that command id. */
  result(commandId: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  dropAll(): void;
  stop(): Promise<void>;
}

export async function startGatewayPeer(
  opts: {
    heartbeatIntervalSec?: number;
    autoAck?: boolean;
    /** Runs right after each welcome is sent (e.g. to send a command with no delay at all). */
    afterWelcome?: (peer: GatewayPeer) => void;
    /** Answers hello with this error frame and close code instead of a welcome. */
    refuseHello?: { code: string; message: string; closeCode: number };
    /**
     * After its welcome the peer says nothing more — no acks, no pongs — as a gateway whose host
     * or link vanished without closing the socket.
     */
    silentAfterWelcome?: boolean;
  } = {},
): Promise<GatewayPeer> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, autoPong: opts.silentAfterWelcome !== true });
  await once(wss, 'listening');
  const port = (wss.address() as AddressInfo).port;
  const connections: PeerConnection[] = [];
  const events: EventRecord[] = [];
  const results = new Map<string, Record<string, unknown>>();
  const peer: GatewayPeer = {
    url: `ws://127.0.0.1:${port}`,
    connections,
    events,
    autoAck: opts.autoAck ?? true,
    last: () => connections.at(-1),
    framesOf: (type) => connections.flatMap((c) => c.frames.filter((f) => f.type === type)),
    ack(seq) {
      const c = connections.at(-1);
      c?.socket.send(JSON.stringify(makeEnvelope('ack', { seq })));
    },
    sendCommand(payload) {
      const c = connections.at(-1);
      c?.socket.send(JSON.stringify({ ...makeEnvelope('ack', { seq: 0 }), type: 'command', payload }));
    },
    async result(commandId, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        const r = results.get(commandId);
        if (r !== undefined) return r;
        await new Promise((res) => setTimeout(res, 20));
      }
      throw new Error(`no command.result for ${commandId} within ${timeoutMs} ms`);
    },
    dropAll() {
      for (const c of connections) c.socket.terminate();
    },
    async stop() {
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((r) => wss.close(() => r()));
    },
  };
  wss.on('connection', (socket, req) => {
    const conn: PeerConnection = {
      at: Date.now(),
      url: req.url ?? '',
      headers: req.headers,
      frames: [],
      socket,
    };
    connections.push(conn);
    socket.on('message', (data) => {
      const env = JSON.parse(data.toString()) as Envelope;
      conn.frames.push(env);
      if (opts.silentAfterWelcome === true && env.type !== 'hello') return;
      if (env.type === 'hello' && opts.refuseHello !== undefined) {
        const { code, message, closeCode } = opts.refuseHello;
        socket.send(JSON.stringify(makeEnvelope('error', { code: code as 'UNSUPPORTED_VERSION', message })));
        socket.close(closeCode, 'refused');
      } else if (env.type === 'hello') {
        const hello = env.payload as WsPayload<'hello'>;
        socket.send(
          JSON.stringify(
            makeEnvelope('welcome', {
              node: hello.node,
              gateway: 'peer',
              heartbeat_interval_sec: opts.heartbeatIntervalSec ?? 30,
              heartbeat_timeout_count: 3,
              max_batch: 500,
              max_frame_bytes: 1024 * 1024,
            }),
          ),
        );
        opts.afterWelcome?.(peer);
      } else if (env.type === 'events') {
        const batch = (env.payload as { events: EventRecord[] }).events;
        events.push(...batch);
        const last = batch.at(-1);
        if (peer.autoAck && last !== undefined)
          socket.send(JSON.stringify(makeEnvelope('ack', { seq: last.seq })));
      } else if (env.type === 'command.result') {
        const r = env.payload as Record<string, unknown>;
        results.set(String(r.command_id), r);
      }
    });
  });
  return peer;
}
