// The fake Discord gateway: Discord's v10 WebSocket protocol in plain JSON text frames
// (discord.js asks for zlib-stream compression only when zlib-sync is installed). HELLO →
// IDENTIFY → READY + GUILD_CREATE, heartbeats acked, dispatches numbered per session, RESUME
// replays what a dropped connection missed, RECONNECT and close codes as Discord sends them.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { type WebSocket, WebSocketServer } from 'ws';
import { type FakeDiscordState, guildCreatePayload } from './fake-discord-state.ts';

export const GatewayOp = {
  DISPATCH: 0,
  HEARTBEAT: 1,
  IDENTIFY: 2,
  RESUME: 6,
  RECONNECT: 7,
  INVALID_SESSION: 9,
  HELLO: 10,
  HEARTBEAT_ACK: 11,
} as const;

/** Gateway intents the fake honours (bit values from Discord's docs). */
export const Intent = { GUILDS: 1 << 0, GUILD_MESSAGES: 1 << 9, MESSAGE_CONTENT: 1 << 15 } as const;

export interface GatewayFrame {
  direction: 'in' | 'out';
  op: number;
  t?: string | null;
  s?: number | null;
  session?: string;
  at: number;
}

interface Session {
  id: string;
  intents: number;
  seq: number;
  /** Every dispatch sent on this session, for RESUME. */
  sent: Array<{ s: number; t: string; d: unknown }>;
  socket: WebSocket | undefined;
}

export interface FakeGateway {
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Sends a dispatch to every identified session (when `intent` is given, only those that asked for it). */
  dispatch(t: string, d: unknown, intent?: number): void;
  sessionIntents(): number[];
  /** Open sockets that completed IDENTIFY or RESUME. */
  readySockets(): number;
  identifies(): number;
  resumes(): number;
  /** Asks every client to reconnect and resume (op 7), as Discord does before a restart. */
  requestReconnect(): void;
  /** Drops every socket without a close frame (what a network cut looks like). */
  terminateAll(): void;
  frames: GatewayFrame[];
  close(): void;
}

export function createFakeGateway(opts: {
  state: FakeDiscordState;
  token: string;
  heartbeatIntervalMs: number;
  resumeUrl: () => string;
}): FakeGateway {
  const wss = new WebSocketServer({ noServer: true });
  const sessions = new Map<string, Session>();
  const frames: GatewayFrame[] = [];
  let identifies = 0;
  let resumes = 0;

  const send = (ws: WebSocket, payload: { op: number; d: unknown; s?: number | null; t?: string | null }) => {
    frames.push({
      direction: 'out',
      op: payload.op,
      t: payload.t ?? null,
      s: payload.s ?? null,
      at: Date.now(),
    });
    ws.send(JSON.stringify({ s: null, t: null, ...payload }));
  };

  function dispatchTo(session: Session, t: string, d: unknown): void {
    session.seq += 1;
    const s = session.seq;
    session.sent.push({ s, t, d });
    if (session.sent.length > 1000) session.sent.shift();
    if (session.socket?.readyState === 1) send(session.socket, { op: GatewayOp.DISPATCH, t, s, d });
  }

  function onConnection(ws: WebSocket, url: URL): void {
    if (url.searchParams.get('encoding') !== 'json') {
      ws.close(4002, 'Decode error');
      return;
    }
    if (url.searchParams.get('v') !== '10') {
      ws.close(4012, 'Invalid API version');
      return;
    }
    if (url.searchParams.has('compress')) {
      // Discord would zlib-stream; the fake speaks plain JSON only, and says so instead of garbling.
      ws.close(4000, 'fake Discord: transport compression is not supported');
      return;
    }
    let session: Session | undefined;
    send(ws, { op: GatewayOp.HELLO, d: { heartbeat_interval: opts.heartbeatIntervalMs } });
    ws.on('message', (raw) => {
      let msg: { op?: unknown; d?: unknown };
      try {
        msg = JSON.parse(String(raw)) as { op?: unknown; d?: unknown };
      } catch {
        ws.close(4002, 'Decode error');
        return;
      }
      const d = (typeof msg.d === 'object' && msg.d !== null ? msg.d : {}) as Record<string, unknown>;
      const op = typeof msg.op === 'number' ? msg.op : -1;
      frames.push({ direction: 'in', op, at: Date.now(), ...(session ? { session: session.id } : {}) });
      switch (op) {
        case GatewayOp.HEARTBEAT:
          send(ws, { op: GatewayOp.HEARTBEAT_ACK, d: null });
          return;
        case GatewayOp.IDENTIFY: {
          if (session) {
            ws.close(4005, 'Already authenticated');
            return;
          }
          if (d.token !== opts.token) {
            ws.close(4004, 'Authentication failed');
            return;
          }
          identifies += 1;
          session = {
            id: randomUUID().replaceAll('-', ''),
            intents: typeof d.intents === 'number' ? d.intents : 0,
            seq: 0,
            sent: [],
            socket: ws,
          };
          sessions.set(session.id, session);
          dispatchTo(session, 'READY', {
            v: 10,
            user_settings: {},
            user: opts.state.bot,
            guilds: [{ id: opts.state.guild.id, unavailable: true }],
            session_id: session.id,
            session_type: 'normal',
            resume_gateway_url: opts.resumeUrl(),
            shard: [0, 1],
            application: { id: opts.state.applicationId, flags: 0 },
            private_channels: [],
            presences: [],
            relationships: [],
            guild_join_requests: [],
            geo_ordered_rtc_regions: [],
            auth: {},
          });
          if (session.intents & Intent.GUILDS)
            dispatchTo(session, 'GUILD_CREATE', guildCreatePayload(opts.state));
          return;
        }
        case GatewayOp.RESUME: {
          const known = typeof d.session_id === 'string' ? sessions.get(d.session_id) : undefined;
          if (d.token !== opts.token) {
            ws.close(4004, 'Authentication failed');
            return;
          }
          if (!known || typeof d.seq !== 'number') {
            send(ws, { op: GatewayOp.INVALID_SESSION, d: false });
            return;
          }
          resumes += 1;
          if (known.socket && known.socket !== ws) known.socket.terminate();
          known.socket = ws;
          session = known;
          const seq = d.seq;
          for (const e of known.sent.filter((x) => x.s > seq)) {
            send(ws, { op: GatewayOp.DISPATCH, t: e.t, s: e.s, d: e.d });
          }
          known.seq += 1;
          send(ws, { op: GatewayOp.DISPATCH, t: 'RESUMED', s: known.seq, d: {} });
          return;
        }
        default:
          ws.close(4001, 'Unknown opcode');
      }
    });
    ws.on('close', () => {
      if (session && session.socket === ws) session.socket = undefined;
    });
    ws.on('error', () => undefined);
  }

  return {
    frames,
    handleUpgrade(req, socket, head) {
      const url = new URL(req.url ?? '/', 'http://fake');
      wss.handleUpgrade(req, socket, head, (ws) => onConnection(ws, url));
    },
    dispatch(t, d, intent) {
      for (const s of sessions.values()) {
        if (intent !== undefined && (s.intents & intent) === 0) continue;
        dispatchTo(s, t, d);
      }
    },
    sessionIntents: () => [...sessions.values()].map((s) => s.intents),
    readySockets: () => [...sessions.values()].filter((s) => s.socket?.readyState === 1).length,
    identifies: () => identifies,
    resumes: () => resumes,
    requestReconnect() {
      for (const s of sessions.values()) {
        if (s.socket?.readyState === 1) send(s.socket, { op: GatewayOp.RECONNECT, d: null });
      }
    },
    terminateAll() {
      for (const ws of wss.clients) ws.terminate();
    },
    close() {
      for (const ws of wss.clients) ws.terminate();
      wss.close();
    },
  };
}
