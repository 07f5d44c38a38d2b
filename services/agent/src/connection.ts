import { type Backoff, backoffDelay, type Logger } from '@hal/observability';
import {
  ackPayloadSchema,
  envelopeSchema,
  errorPayloadSchema,
  formatProtocolVersion,
  type HeartbeatPayload,
  issuesOf,
  makeEnvelope,
  type SessionSnapshot,
  WIRE_PROTOCOL,
  WS_LIMITS,
  WsCloseCode,
  WsType,
  welcomePayloadSchema,
} from '@hal/protocol';
import WebSocket from 'ws';
import { answerCommand, type RunCommand } from './command-frame.ts';
import { packEvents } from './events-batch.ts';
import type { ProjectRef } from './opencode-events.ts';
import type { Spool, SpooledEvent } from './spool.ts';

export interface ConnectionDeps {
  /**
   * The gateway's WebSocket URL, or several (`supervisor_url` as a list): after a connection ends
   * or fails, the next one is tried, in turn, with the usual backoff — so when a gateway dies its
   * agents land on another, which takes their nodes over (hal.gw.claim).
   */
  url: string | readonly string[];
  token: string;
  node: string;
  /** Persistent id of this installation (instance-id.ts); sent in hello from protocol 1.2. */
  instanceId?: string;
  /** The host name, sent in hello so a refusal can name both hosts. */
  host?: string;
  agentVersion: string;
  projects: readonly ProjectRef[];
  spool: Spool;
  log: Logger;
  reconnect: Backoff;
  heartbeatIntervalSec: number;
  snapshot(): SessionSnapshot[];
  heartbeat(): Promise<HeartbeatPayload>;
  runCommand: RunCommand;
  /**
   * A spooled record larger than `limitBytes` can never be sent (a frame or the gateway would
   * refuse it, and it would block every record behind it): the agent drops it from the spool and
   * reports the drop. Must not call notify().
   */
  onUnsendable(row: SpooledEvent, limitBytes: number): void;
  random?: () => number;
  /** Batches sent but not yet acked before the agent waits for an ack. */
  window?: number;
  welcomeTimeoutMs?: number;
  /**
   * Dead-gateway detection: a ping every `pingIntervalMs`; the socket is dropped (and the next URL
   * tried) after `silenceMs` without any frame, ping or pong from the gateway. A crashed gateway
   * process closes its sockets at once; this catches a host or link that vanished without a word,
   * which TCP alone would notice only after many minutes. Default 2 s / 6 s.
   */
  liveness?: { pingIntervalMs: number; silenceMs: number };
}

export interface Connection {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** New events are in the spool: send them if the window allows. */
  notify(): void;
  /** True between a welcome and the socket closing. */
  ready(): boolean;
}

/** Close codes that mean the gateway turned this agent away (see WsCloseCode). */
const REFUSALS: ReadonlySet<number> = new Set([
  WsCloseCode.UNSUPPORTED_VERSION,
  WsCloseCode.NODE_ID_IN_USE,
  WsCloseCode.CREDENTIAL_REVOKED,
]);

/**
 * The agent's outbound WebSocket to a gateway (protocol in /docs and libs/protocol): hello → welcome →
 * snapshot → events from the spool in pipelined batches; deletes from the spool only on `ack`;
 * heartbeats; commands run concurrently off the read loop; reconnects with jittered backoff.
 */
export function createConnection(deps: ConnectionDeps): Connection {
  const { spool, log } = deps;
  const random = deps.random ?? Math.random;
  const windowSize = deps.window ?? 4;
  const urls: readonly string[] = typeof deps.url === 'string' ? [deps.url] : deps.url;
  if (urls.length === 0) throw new Error('createConnection: at least one gateway URL is needed');
  const liveness = deps.liveness ?? { pingIntervalMs: 2_000, silenceMs: 6_000 };
  /** Index into `urls` of the gateway dialled next (or connected now). */
  let urlIndex = 0;
  let livenessTimer: NodeJS.Timeout | undefined;
  let ws: WebSocket | undefined;
  let stopping = false;
  let attempt = 0;
  let reconnectTimer: NodeJS.Timeout | undefined;
  let heartbeatTimer: NodeJS.Timeout | undefined;
  let welcomeTimer: NodeJS.Timeout | undefined;
  let isReady = false;
  let sentUpTo = 0;
  let inflight: number[] = [];
  let maxBatch: number = WS_LIMITS.maxBatch;
  let maxFrame: number = WS_LIMITS.maxFrameBytes;
  /** The error frame that came before the close of a refused hello, for the log. */
  let refusal: { code: string; message: string } | undefined;

  function send(socket: WebSocket, text: string): void {
    if (socket.readyState === WebSocket.OPEN) socket.send(text);
  }

  /** Sends spooled events while fewer than `window` batches wait for their ack. */
  function pump(): void {
    const socket = ws;
    if (!isReady || socket === undefined) return;
    while (inflight.length < windowSize) {
      const rows = spool.pending(sentUpTo, maxBatch);
      if (rows.length === 0) return;
      const batch = packEvents(rows, maxFrame, deps.onUnsendable);
      if (batch.frame === undefined) {
        // Only unsendable rows were read: read again (their agent.event_dropped is spooled now).
        if (batch.dropped > 0) continue;
        return;
      }
      send(socket, batch.frame);
      sentUpTo = batch.last;
      inflight.push(batch.last);
    }
  }

  async function handleCommand(socket: WebSocket, payload: unknown): Promise<void> {
    const frame = await answerCommand(payload, deps.runCommand);
    if (frame === undefined) {
      log.warn('command without command_id, no result can be sent');
      return;
    }
    send(socket, frame);
  }

  function onFrame(socket: WebSocket, text: string): void {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      log.warn({ size: text.length }, 'gateway sent a non-JSON frame, ignored');
      return;
    }
    const env = envelopeSchema.safeParse(json);
    if (!env.success || env.data.version !== WIRE_PROTOCOL.major) {
      log.warn(
        { issues: env.success ? undefined : issuesOf(env.error) },
        'gateway sent a bad envelope, ignored',
      );
      return;
    }
    const { type, payload } = env.data;
    switch (type) {
      case WsType.WELCOME: {
        const w = welcomePayloadSchema.safeParse(payload);
        if (!w.success) {
          log.warn({ issues: issuesOf(w.error) }, 'bad welcome, ignored');
          return;
        }
        clearTimeout(welcomeTimer);
        attempt = 0;
        maxBatch = Math.min(w.data.max_batch, WS_LIMITS.maxBatch);
        maxFrame = Math.min(w.data.max_frame_bytes, WS_LIMITS.maxFrameBytes);
        isReady = true;
        // Resend starts at the oldest unacked row: what was in flight on the old socket may be lost.
        sentUpTo = spool.ackedSeq();
        inflight = [];
        // A gateway from before the version split sends no protocol: it speaks 1.0.
        const protocol = w.data.protocol ?? '1.0';
        log.info(
          {
            gateway: w.data.gateway,
            url: urls[urlIndex],
            protocol,
            gateway_protocol: w.data.gateway_protocol ?? protocol,
            from_seq: sentUpTo + 1,
            depth: spool.depth(),
          },
          'connected to gateway',
        );
        if ((w.data.missing_features ?? []).length > 0) {
          log.warn(
            { missing_features: w.data.missing_features, gateway_protocol: w.data.gateway_protocol },
            'this agent is one protocol version behind its gateway; upgrade it',
          );
        }
        send(socket, JSON.stringify(makeEnvelope(WsType.SNAPSHOT, { sessions: deps.snapshot() })));
        startHeartbeat(socket, w.data.heartbeat_interval_sec);
        pump();
        return;
      }
      case WsType.ACK: {
        const a = ackPayloadSchema.safeParse(payload);
        if (!a.success) return;
        spool.ack(a.data.seq);
        inflight = inflight.filter((s) => s > a.data.seq);
        pump();
        return;
      }
      case WsType.COMMAND:
        void handleCommand(socket, payload).catch((err: unknown) =>
          log.error({ err }, 'command handling failed'),
        );
        return;
      case WsType.ERROR: {
        const e = errorPayloadSchema.safeParse(payload);
        if (e.success && !isReady) refusal = e.data;
        log.warn({ error: e.success ? e.data : payload }, 'gateway reported an error');
        return;
      }
      default:
        log.warn({ type }, 'gateway sent an unknown frame type, ignored');
    }
  }

  function startHeartbeat(socket: WebSocket, intervalSec: number): void {
    clearInterval(heartbeatTimer);
    const beat = async () => {
      try {
        send(socket, JSON.stringify(makeEnvelope(WsType.HEARTBEAT, await deps.heartbeat())));
      } catch (err) {
        log.warn({ err }, 'heartbeat failed');
      }
    };
    void beat();
    heartbeatTimer = setInterval(() => void beat(), intervalSec * 1000);
  }

  /** Drops a socket whose gateway stopped answering (see ConnectionDeps.liveness). */
  function watchLiveness(socket: WebSocket): void {
    let lastHeard = Date.now();
    const heard = (): void => {
      lastHeard = Date.now();
    };
    socket.on('message', heard);
    socket.on('ping', heard);
    socket.on('pong', heard);
    clearInterval(livenessTimer);
    livenessTimer = setInterval(() => {
      const silentMs = Date.now() - lastHeard;
      if (silentMs >= liveness.silenceMs) {
        log.warn({ silent_ms: silentMs, url: urls[urlIndex] }, 'gateway silent, reconnecting');
        clearInterval(livenessTimer);
        socket.terminate();
        return;
      }
      if (socket.readyState === WebSocket.OPEN) socket.ping();
    }, liveness.pingIntervalMs);
  }

  function dial(): void {
    if (stopping) return;
    const socket = new WebSocket(urls[urlIndex] ?? urls[0] ?? '', {
      headers: { authorization: `Bearer ${deps.token}`, 'x-hal-node': deps.node },
      maxPayload: WS_LIMITS.maxFrameBytes,
      handshakeTimeout: 10_000,
    });
    ws = socket;
    socket.on('open', () => {
      watchLiveness(socket);
      send(
        socket,
        JSON.stringify(
          makeEnvelope(WsType.HELLO, {
            node: deps.node,
            agent_version: deps.agentVersion,
            protocol: formatProtocolVersion(WIRE_PROTOCOL),
            ...(deps.instanceId === undefined ? {} : { instance_id: deps.instanceId }),
            ...(deps.host === undefined ? {} : { host: deps.host }),
            projects: deps.projects.map((p) => ({ name: p.name, directory: p.directory })),
            last_acked_seq: spool.ackedSeq(),
          }),
        ),
      );
      welcomeTimer = setTimeout(() => {
        log.warn('no welcome from gateway, reconnecting');
        socket.terminate();
      }, deps.welcomeTimeoutMs ?? 10_000);
    });
    socket.on('message', (data, isBinary) => {
      if (!isBinary) onFrame(socket, data.toString());
    });
    socket.on('unexpected-response', (_req, res) => {
      log.error({ status: res.statusCode }, 'gateway refused the connection');
      socket.terminate();
    });
    socket.on('error', (err) => log.warn({ err }, 'gateway socket error'));
    socket.on('close', (code) => {
      clearTimeout(welcomeTimer);
      clearInterval(heartbeatTimer);
      clearInterval(livenessTimer);
      if (ws === socket) {
        ws = undefined;
        isReady = false;
        inflight = [];
      }
      const refused = refusal;
      refusal = undefined;
      if (stopping) return;
      // The next gateway in turn: the one that just closed may be the one that died.
      const from = urls[urlIndex];
      urlIndex = (urlIndex + 1) % urls.length;
      const next = urls.length > 1 ? { from, next: urls[urlIndex] } : {};
      if (REFUSALS.has(code)) {
        // Turned away at hello for a reason a quick retry cannot change: wait the longest backoff
        // (jittered over its upper half), never a reconnect storm against the gateway.
        const delay = Math.floor(deps.reconnect.maxMs * (0.5 + random() / 2));
        attempt += 1;
        log.error(
          { code, error: refused?.code, delay_ms: delay, attempt, ...next },
          `gateway refused this agent: ${refused?.message ?? 'no reason given'}`,
        );
        reconnectTimer = setTimeout(dial, delay);
        return;
      }
      const delay = backoffDelay(attempt, deps.reconnect, random);
      attempt += 1;
      log.warn({ code, delay_ms: delay, attempt, ...next }, 'gateway connection closed, reconnecting');
      reconnectTimer = setTimeout(dial, delay);
    });
  }

  return {
    async start() {
      stopping = false;
      dial();
    },
    async stop() {
      stopping = true;
      clearTimeout(reconnectTimer);
      clearTimeout(welcomeTimer);
      clearInterval(heartbeatTimer);
      clearInterval(livenessTimer);
      const socket = ws;
      if (socket === undefined || socket.readyState === WebSocket.CLOSED) return;
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          socket.terminate();
          resolve();
        }, 2000);
        socket.once('close', () => {
          clearTimeout(force);
          resolve();
        });
        if (socket.readyState === WebSocket.CONNECTING) socket.terminate();
        else socket.close(1000, 'agent stopping');
      });
    },
    notify: pump,
    ready: () => isReady,
  };
}
