import type { Socket } from 'node:net';
import type { NatsConnection } from '@hal/bus';
import { createRateLimitedLog, type Logger } from '@hal/observability';
import {
  WsCloseCode as CloseCode,
  type CommandRequest,
  type EnrollmentRecord,
  EnrollmentStatus,
  ErrorCode,
  HalError,
  makeEnvelope,
  type Reply,
  type WsPayload,
  WsType,
} from '@hal/protocol';
import type { RawData, WebSocket } from 'ws';
import type { ConnectionShared, IngestStats } from './agent-connection-deps.ts';
import { credentialEndReason } from './enrollment-watch.ts';
import { EventIngest, type SessionConflict } from './event-ingest.ts';
import { onFrame } from './frame-dispatch.ts';
import { BadFrameWindow, errorFrame } from './frames.ts';
import { HeartbeatRelay } from './heartbeat-relay.ts';
import { NodeAnnouncements } from './node-announcements.ts';
import type { HeldConnection, NodeInfo } from './node-registry.ts';
import { PendingCommands } from './pending-commands.ts';
import type { OfflineReason } from './system-events.ts';
import type { AgentCredential } from './ws-auth.ts';

/** Each socket's connection, for the listeners below: one set of functions for every socket. */
const bySocket = new WeakMap<WebSocket, AgentConnection>();

function onSocketMessage(this: WebSocket, data: RawData, isBinary: boolean): void {
  const conn = bySocket.get(this);
  if (conn !== undefined) onFrame(conn, data, isBinary);
}

function onSocketClose(this: WebSocket, code: number, reason: Buffer): void {
  void bySocket.get(this)?.onClose(code, reason.toString());
}

function onSocketError(this: WebSocket, err: Error): void {
  bySocket.get(this)?.log.warn({ err }, 'agent socket error');
}

/**
 * One agent socket, from hello to close: its state, what the registry and the gateway ask of
 * it, and its end. Frames are handled in `frame-dispatch.ts` and hello in `hello-flow.ts`
 * (functions taking the connection). A gateway holds thousands of mostly idle connections and
 * each one's memory is the figure #13 sets a goal on, so a connection carries no closure and no
 * deps object of its own: it is the deps of its event ingest and announcements (the getters
 * below), its listeners are shared functions, and the parts an idle one never needs (event
 * ingest, pending commands, the bad-frame window, its logger) are made on use.
 */
export class AgentConnection implements HeldConnection {
  readonly node: string;
  readonly id = crypto.randomUUID();
  claimedAt = 0;
  readonly shared: ConnectionShared;
  readonly ws: WebSocket;
  readonly remoteAddress: string | null;
  readonly credential: AgentCredential;
  readonly heartbeats = new HeartbeatRelay();
  readonly announce: NodeAnnouncements;
  /** hello once welcomed; undefined before. */
  hello: WsPayload<'hello'> | undefined;
  /** Between hello and the holder check: a second hello in that window is a bad frame. */
  helloPending = false;
  /** Frames that arrived while hello was being checked. */
  early: Array<[RawData, boolean]> | undefined;
  /** Set for an enrolled node: the projects its record names (they follow the record live). */
  enrolledProjects: Array<{ name: string; directory: string }> | undefined;
  /** Why this side ended the connection; unset means the peer or the network did. */
  endReason: OfflineReason | undefined;
  readonly #connectedAtMs: number;
  #ingestPart: EventIngest | undefined;
  #commandsPart: PendingCommands | undefined;
  #badFramesPart: BadFrameWindow | undefined;
  #warnLog: ReturnType<typeof createRateLimitedLog> | undefined;
  #closed = false;
  /** Set once the socket is closed and node.offline (if due) is published. */
  #finished = false;
  /** Callers of `closed()` waiting for `#finished` (the gateway's stop only). */
  #closeWaiters: Array<() => void> | undefined;

  constructor(
    shared: ConnectionShared,
    ws: WebSocket,
    node: string,
    remoteAddress: string | null,
    credential: AgentCredential,
  ) {
    this.shared = shared;
    this.ws = ws;
    this.node = node;
    this.remoteAddress = remoteAddress;
    this.credential = credential;
    if (credential.kind === 'enrolled') this.enrolledProjects = [...credential.projects];
    this.#connectedAtMs = shared.clock.now();
    this.announce = new NodeAnnouncements(this);
    shared.metrics.connectionsActive.inc();
    bySocket.set(ws, this);
    ws.on('message', onSocketMessage);
    ws.on('close', onSocketClose);
    ws.on('error', onSocketError);
  }

  // ---- what the event ingest and the announcements read (EventIngestDeps, NodeAnnouncementsDeps) ----

  /** A logger naming this connection, made per use: an idle connection keeps none (~0.65 KiB each). */
  get log(): Logger {
    return this.shared.log.child({ component: 'agent-connection', node: this.node, connection: this.id });
  }
  get gatewayId(): string {
    return this.shared.gatewayId;
  }
  get nc(): NatsConnection {
    return this.shared.nc;
  }
  get js() {
    return this.shared.js;
  }
  get metrics() {
    return this.shared.metrics;
  }
  get limits() {
    return this.shared.limits;
  }
  get budget() {
    return this.shared.budget;
  }
  get owners() {
    return this.shared.owners;
  }
  get clock() {
    return this.shared.clock;
  }
  get conflictAlerts() {
    return this.shared.conflictAlerts;
  }
  get skewAlerted() {
    return this.shared.skewAlerted;
  }
  get skewThresholdSec() {
    return this.shared.skewThresholdSec;
  }
  /** ws offers no public pause: its socket is the only lever for TCP backpressure. */
  get socket(): Socket | undefined {
    return (this.ws as unknown as { _socket?: Socket })._socket;
  }
  onSessionConflict(conflict: SessionConflict): void {
    this.announce.sessionConflict(conflict);
  }
  skewMs(): number | undefined {
    return this.heartbeats.skewMs;
  }
  isClosed(): boolean {
    return this.#closed;
  }
  /** False when the socket was no longer open, so the frame never left. */
  send(frame: string): boolean {
    if (this.ws.readyState !== this.ws.OPEN) return false;
    this.ws.send(frame);
    return true;
  }

  // ---- parts made on first use ----

  get ingest(): EventIngest {
    this.#ingestPart ??= new EventIngest(this);
    return this.#ingestPart;
  }

  get commands(): PendingCommands {
    this.#commandsPart ??= new PendingCommands(this.node, this.log);
    return this.#commandsPart;
  }

  get badFrames(): BadFrameWindow {
    this.#badFramesPart ??= new BadFrameWindow(this.shared.limits.badFrameWindowMs);
    return this.#badFramesPart;
  }

  get warn(): ReturnType<typeof createRateLimitedLog> {
    this.#warnLog ??= createRateLimitedLog(this.log);
    return this.#warnLog;
  }

  // ---- what the registry and the gateway ask ----

  /** Resolves once the socket is closed and node.offline (if due) is published. */
  closed(): Promise<void> {
    if (this.#finished) return Promise.resolve();
    return new Promise((resolve) => {
      this.#closeWaiters ??= [];
      this.#closeWaiters.push(resolve);
    });
  }

  /**
   * Pings a welcomed agent so it can tell a live gateway from a vanished one (agent liveness);
   * the gateway's one ping timer calls it for every connection. Written even while reading is
   * paused for backpressure (a JetStream outage): the agent then still hears from its gateway
   * and does not take the pause for a dead host and reconnect.
   */
  ping(): void {
    if (this.#closed || this.hello === undefined) return;
    if (this.ws.readyState === this.ws.OPEN) this.ws.ping();
  }

  info(): NodeInfo {
    return {
      node: this.node,
      gateway: this.shared.gatewayId,
      connection: this.id,
      agent_version: this.hello?.agent_version ?? '',
      projects: this.projects(),
      connected_at: new Date(this.#connectedAtMs).toISOString(),
      last_heartbeat_at: this.heartbeats.lastHeartbeat?.toISOString() ?? null,
      remote_address: this.remoteAddress,
      instance_id: this.hello?.instance_id ?? null,
      host: this.hello?.host ?? null,
      clock_skew_ms: this.heartbeats.skewMs ?? null,
    };
  }

  /** The projects the control plane routes to this node: its enrollment's, or (shared token) hello's. */
  projects(): Array<{ name: string; directory: string }> {
    return this.enrolledProjects ?? this.hello?.projects ?? [];
  }

  /**
   * The node's enrollment changed on some gateway. A revoke or a new token ends this socket when
   * it authenticated with the old one; a first enrollment ends a shared-token socket (the node
   * must now use its own token); a change of projects applies from the next heartbeat.
   */
  enrollmentChanged(record: EnrollmentRecord | undefined): void {
    if (this.#closed) return;
    const cred = this.credential;
    const reason = credentialEndReason(cred, record);
    if (reason === undefined) {
      if (cred.kind === 'enrolled' && record !== undefined) this.enrolledProjects = [...record.projects];
      return;
    }
    this.log.warn({ reason }, 'closing agent socket: its credential is no longer valid');
    this.send(
      errorFrame({
        code: record?.status === EnrollmentStatus.REVOKED ? ErrorCode.NODE_REVOKED : ErrorCode.UNAUTHORIZED,
        message: `${reason}; this connection's credential is no longer valid`,
      }),
    );
    this.ws.close(CloseCode.CREDENTIAL_REVOKED, reason);
    // A peer that ignores the close handshake is cut off anyway.
    setTimeout(() => this.ws.terminate(), 500).unref();
  }

  /** Ends the connection when its heartbeats are overdue by the clock (the gateway's tick). */
  checkHeartbeat(): void {
    if (this.#closed || !this.heartbeats.overdue(this.shared.clock.now())) return;
    this.log.warn('heartbeat timeout');
    this.endReason = 'heartbeat_timeout';
    // Offline is published now, not after the close handshake, which a dead peer never finishes.
    if (this.shared.registry.release(this)) this.announce.offline('heartbeat_timeout');
    this.ws.close(CloseCode.HEARTBEAT_TIMEOUT, 'heartbeat timeout');
    setTimeout(() => this.ws.terminate(), 1_000).unref();
  }

  /** Backpressure state of this connection's event path (read-only; tests and diagnostics). */
  ingestStats(): IngestStats {
    const ingest = this.#ingestPart;
    return {
      in_flight: ingest?.inFlight ?? 0,
      paused: ingest?.paused ?? false,
      unread_bytes: ingest?.unreadBytes ?? 0,
    };
  }

  /** `commandId` is the one the registry records in `command.executed`, so both name the same command. */
  command(request: CommandRequest, commandId: string = crypto.randomUUID()): Promise<Reply<unknown>> {
    if (this.#closed) {
      return Promise.reject(new HalError(ErrorCode.NODE_OFFLINE, `node "${this.node}" is not connected`));
    }
    const key = request.idempotency_key;
    return this.commands.add(request, commandId, () =>
      this.send(
        JSON.stringify(
          makeEnvelope(WsType.COMMAND, {
            command_id: commandId,
            command: request.command,
            actor: request.actor,
            timeout_ms: request.timeout_ms,
            ...(key === undefined ? {} : { idempotency_key: key }),
          }),
        ),
      ),
    );
  }

  replace(by: { gateway: string; connection: string }): void {
    if (this.#closed) return;
    this.log.info({ by }, 'connection replaced');
    this.endReason = 'replaced';
    this.ws.close(CloseCode.REPLACED, 'replaced');
  }

  /** Gateway shutdown: close politely, and force it if the peer does not answer. */
  shutdown(graceMs: number): void {
    if (this.#closed) return;
    this.endReason ??= 'gateway_stopped';
    this.ws.close(CloseCode.GOING_AWAY, 'gateway stopping');
    setTimeout(() => this.ws.terminate(), graceMs).unref();
  }

  /** The socket closed (the shared close listener): publishes node.offline when due. */
  async onClose(code: number, reason: string): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.heartbeats.stop();
    this.#ingestPart?.close();
    this.shared.metrics.connectionsActive.dec();
    this.#commandsPart?.disconnected();
    this.log.info({ code, reason, end: this.endReason ?? 'peer' }, 'agent connection closed');
    try {
      const held = this.shared.registry.release(this);
      if (held && (this.endReason === undefined || this.endReason === 'gateway_stopped')) {
        await this.announce.offline(this.endReason ?? 'socket_closed');
      }
    } finally {
      this.#finished = true;
      this.shared.onClosed(this);
      for (const resolve of this.#closeWaiters?.splice(0) ?? []) resolve();
    }
  }
}
