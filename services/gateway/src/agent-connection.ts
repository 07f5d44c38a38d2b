import type { Socket } from 'node:net';
import type { JetStreamClient, NatsConnection, SessionOwners } from '@hal/bus';
import { type Clock, createRateLimitedLog, type HalMetrics, type Logger } from '@hal/observability';
import {
  WsCloseCode as CloseCode,
  type CommandRequest,
  type EnrollmentRecord,
  EnrollmentStatus,
  ErrorCode,
  type EventRecord,
  formatProtocolVersion,
  HalError,
  makeEnvelope,
  negotiateProtocol,
  type Reply,
  type SessionSnapshot,
  toHalError,
  WIRE_PROTOCOL,
  WS_LIMITS,
  type WsPayload,
  WsType,
} from '@hal/protocol';
import type { RawData, WebSocket } from 'ws';
import { ClockSkew } from './clock-skew.ts';
import { EventIngest, type SessionConflict } from './event-ingest.ts';
import { type AgentFrame, errorFrame, type FrameProblem, parseFrame } from './frames.ts';
import type { GatewayConfig, GatewayLimits } from './gateway-config.ts';
import { type HeartbeatWatch, republishHeartbeat, watchHeartbeats } from './heartbeats.ts';
import type { HeldConnection, NodeInfo, NodeRegistry } from './node-registry.ts';
import { PendingCommands } from './pending-commands.ts';
import type { PublishBudget } from './publish-budget.ts';
import {
  nodeClockSkewEvent,
  nodeIdConflictEvent,
  nodeOfflineEvent,
  nodeOnlineEvent,
  nodeSnapshotEvent,
  type OfflineReason,
  publishSystemEvent,
  sessionConflictEvent,
} from './system-events.ts';
import type { AgentCredential } from './ws-auth.ts';

export interface IngestStats {
  /** Publishes sent to JetStream and not yet acked. */
  in_flight: number;
  /** Reading the socket is paused (above the in-flight limit). */
  paused: boolean;
  /** Bytes received but left unread because of the pause. */
  unread_bytes: number;
}

export interface AgentConnectionDeps {
  ws: WebSocket;
  /** The node the upgrade authenticated; hello must name the same one. */
  node: string;
  remoteAddress: string | null;
  gatewayId: string;
  nc: NatsConnection;
  js: JetStreamClient;
  log: Logger;
  metrics: HalMetrics;
  config: Pick<GatewayConfig, 'heartbeat_interval_sec' | 'heartbeat_timeout_count' | 'alerts'>;
  limits: GatewayLimits;
  budget: PublishBudget;
  registry: NodeRegistry;
  /** Which node each session belongs to; a node reporting another's session is refused. */
  owners: SessionOwners;
  clock: Clock;
  /** Last node.id_conflict alert per (node, instance), shared by the gateway's connections. */
  conflictAlerts: Map<string, number>;
  /** Nodes whose clock skew is past the threshold and was alerted, shared by the gateway's connections. */
  skewAlerted: Set<string>;
  /** How the upgrade authenticated: an enrolled node's projects come from its record, not hello. */
  credential: AgentCredential;
}

const CONFLICT_ALERT_EVERY_MS = 60_000;
/** `alerts.clock_skew_seconds` when the config has no `alerts` section (tests' plain configs). */
const DEFAULT_CLOCK_SKEW_SECONDS = 30;
const MAX_EARLY_FRAMES = 64;
/** Sessions alerted about per connection; beyond this a flood of forgeries is counted, not alerted. */
const MAX_CONFLICT_ALERTS = 100;

/**
 * One agent socket, from hello to close: validates every frame, publishes events with
 * pipelined JetStream publishes, acks in order, relays heartbeats and commands, and publishes
 * node.online/offline/snapshot.
 */
/** How often the gateway pings an agent: well inside the agent's 6 s silence limit. */
const AGENT_PING_INTERVAL_MS = 2_000;

export class AgentConnection implements HeldConnection {
  readonly node: string;
  readonly id = crypto.randomUUID();
  claimedAt = 0;
  /** Resolves once the socket is closed and node.offline (if due) is published. */
  readonly done: Promise<void>;

  readonly #d: AgentConnectionDeps;
  readonly #log: Logger;
  readonly #ingest: EventIngest;
  readonly #commands: PendingCommands;
  readonly #badFrames: number[] = [];
  readonly #alerted = new Set<string>();
  readonly #warn;
  #hello: WsPayload<'hello'> | undefined;
  /** Between hello and the holder check: a second hello in that window is a bad frame. */
  #helloPending = false;
  /** Frames that arrived while hello was being checked. */
  readonly #early: Array<[RawData, boolean]> = [];
  /** Set for an enrolled node: the projects its record names (they follow the record live). */
  #enrolledProjects: Array<{ name: string; directory: string }> | undefined;
  #connectedAt: Date;
  #lastHeartbeat: Date | null = null;
  #heartbeats: HeartbeatWatch | undefined;
  /** Pings the agent so it can tell a live gateway from a vanished one (agent liveness). */
  #pinger: NodeJS.Timeout | undefined;
  readonly #skew = new ClockSkew();
  #closed = false;
  /** Why this side ended the connection; unset means the peer or the network did. */
  #endReason: OfflineReason | undefined;
  #resolveDone!: () => void;

  constructor(deps: AgentConnectionDeps) {
    this.#d = deps;
    this.node = deps.node;
    if (deps.credential.kind === 'enrolled') this.#enrolledProjects = [...deps.credential.projects];
    this.#connectedAt = new Date(deps.clock.now());
    this.#log = deps.log.child({ component: 'agent-connection', node: deps.node, connection: this.id });
    this.#commands = new PendingCommands(deps.node, this.#log);
    this.#warn = createRateLimitedLog(this.#log);
    this.#ingest = new EventIngest({
      node: deps.node,
      js: deps.js,
      log: this.#log,
      metrics: deps.metrics,
      limits: deps.limits,
      budget: deps.budget,
      owners: deps.owners,
      onSessionConflict: (conflict) => this.#onSessionConflict(conflict),
      // ws offers no public pause: its socket is the only lever for TCP backpressure.
      socket: (deps.ws as unknown as { _socket?: Socket })._socket,
      send: (frame) => this.#sendText(frame),
      isClosed: () => this.#closed,
      clock: deps.clock,
      skewMs: () => this.#skew.ms,
    });
    this.done = new Promise((resolve) => {
      this.#resolveDone = resolve;
    });
    deps.metrics.connectionsActive.inc();
    deps.ws.on('message', (data, isBinary) => this.#onMessage(data, isBinary));
    deps.ws.on('close', (code, reason) => void this.#onClose(code, reason.toString()));
    deps.ws.on('error', (err) => this.#log.warn({ err }, 'agent socket error'));
  }

  info(): NodeInfo {
    return {
      node: this.node,
      gateway: this.#d.gatewayId,
      connection: this.id,
      agent_version: this.#hello?.agent_version ?? '',
      projects: this.#projects(),
      connected_at: this.#connectedAt.toISOString(),
      last_heartbeat_at: this.#lastHeartbeat?.toISOString() ?? null,
      remote_address: this.#d.remoteAddress,
      instance_id: this.#hello?.instance_id ?? null,
      host: this.#hello?.host ?? null,
      clock_skew_ms: this.#skew.ms ?? null,
    };
  }

  /** The projects the control plane routes to this node: its enrollment's, or (shared token) hello's. */
  #projects(): Array<{ name: string; directory: string }> {
    return this.#enrolledProjects ?? this.#hello?.projects ?? [];
  }

  /**
   * The node's enrollment changed on some gateway. A revoke or a new token ends this socket when
   * it authenticated with the old one; a first enrollment ends a shared-token socket (the node
   * must now use its own token); a change of projects applies from the next heartbeat.
   */
  enrollmentChanged(record: EnrollmentRecord | undefined): void {
    if (this.#closed) return;
    const cred = this.#d.credential;
    let reason: string | undefined;
    if (record?.status === EnrollmentStatus.REVOKED) reason = 'node revoked';
    else if (cred.kind === 'enrolled' && record?.token_sha256 !== cred.tokenSha256)
      reason = 'node token replaced';
    else if (cred.kind === 'shared' && record?.status === EnrollmentStatus.ACTIVE)
      reason = 'node enrolled: connect with its own token';
    if (reason === undefined) {
      if (cred.kind === 'enrolled' && record !== undefined) this.#enrolledProjects = [...record.projects];
      return;
    }
    this.#log.warn({ reason }, 'closing agent socket: its credential is no longer valid');
    this.#sendText(
      errorFrame({
        code: record?.status === EnrollmentStatus.REVOKED ? ErrorCode.NODE_REVOKED : ErrorCode.UNAUTHORIZED,
        message: `${reason}; this connection's credential is no longer valid`,
      }),
    );
    this.#d.ws.close(CloseCode.CREDENTIAL_REVOKED, reason);
    // A peer that ignores the close handshake is cut off anyway.
    setTimeout(() => this.#d.ws.terminate(), 500).unref();
  }

  /** Ends the connection when its heartbeats are overdue by the clock (the gateway's tick). */
  checkHeartbeat(): void {
    this.#heartbeats?.check();
  }

  /** Backpressure state of this connection's event path (read-only; tests and diagnostics). */
  ingestStats(): IngestStats {
    return {
      in_flight: this.#ingest.inFlight,
      paused: this.#ingest.paused,
      unread_bytes: this.#ingest.unreadBytes,
    };
  }

  /** `commandId` is the one the registry records in `command.executed`, so both name the same command. */
  command(request: CommandRequest, commandId: string = crypto.randomUUID()): Promise<Reply<unknown>> {
    if (this.#closed) {
      return Promise.reject(new HalError(ErrorCode.NODE_OFFLINE, `node "${this.node}" is not connected`));
    }
    const key = request.idempotency_key;
    return this.#commands.add(request, commandId, () =>
      this.#sendText(
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
    this.#log.info({ by }, 'connection replaced');
    this.#endReason = 'replaced';
    this.#d.ws.close(CloseCode.REPLACED, 'replaced');
  }

  /** Gateway shutdown: close politely, and force it if the peer does not answer. */
  shutdown(graceMs: number): void {
    if (this.#closed) return;
    this.#endReason ??= 'gateway_stopped';
    this.#d.ws.close(CloseCode.GOING_AWAY, 'gateway stopping');
    setTimeout(() => this.#d.ws.terminate(), graceMs).unref();
  }

  #send(frame: unknown): void {
    this.#sendText(JSON.stringify(frame));
  }

  /** False when the socket was no longer open, so the frame never left. */
  #sendText(frame: string): boolean {
    if (this.#d.ws.readyState !== this.#d.ws.OPEN) return false;
    this.#d.ws.send(frame);
    return true;
  }

  #onMessage(data: RawData, isBinary: boolean): void {
    if (this.#closed) return;
    // Nothing an agent sends may throw out of this listener: an escaped exception would take the
    // whole gateway (and, all-in-one, the supervisor) down with it.
    try {
      this.#handleMessage(data, isBinary);
    } catch (err) {
      this.#log.error({ err }, 'frame handling failed');
      this.#badFrame({ code: ErrorCode.INTERNAL, message: `frame not handled: ${toHalError(err).code}` });
    }
  }

  #handleMessage(data: RawData, isBinary: boolean): void {
    if (this.#helloPending) {
      // Frames sent right behind hello wait for its check (the holder look-up), in order.
      if (this.#early.length < MAX_EARLY_FRAMES) this.#early.push([data, isBinary]);
      else this.#badFrame({ code: ErrorCode.BAD_FRAME, message: 'too many frames before welcome' });
      return;
    }
    if (isBinary) {
      this.#badFrame({ code: ErrorCode.BAD_FRAME, message: 'frames must be JSON text, not binary' });
      return;
    }
    const text = Array.isArray(data) ? Buffer.concat(data).toString('utf8') : data.toString();
    const parsed = parseFrame(text);
    if (!parsed.ok) {
      if (parsed.problem.code === ErrorCode.UNSUPPORTED_VERSION && this.#hello === undefined) {
        this.#refuse(parsed.problem, CloseCode.UNSUPPORTED_VERSION, 'unsupported protocol version');
        return;
      }
      this.#badFrame(parsed.problem);
      // The caller of a command whose answer was refused learns why now, not at its timeout.
      const { commandId } = parsed.problem;
      if (commandId !== undefined) {
        this.#commands.settle(commandId, {
          ok: false,
          error: {
            code: parsed.problem.code,
            message: `the agent's answer was refused: ${parsed.problem.message}`,
          },
        });
      }
      return;
    }
    const frame = parsed.frame;
    if (frame.type === WsType.HELLO) {
      void this.#onHello(frame).catch((err: unknown) => {
        this.#log.error({ err }, 'hello handling failed');
        this.#d.ws.close(CloseCode.POLICY_VIOLATION, 'hello failed');
      });
      return;
    }
    if (this.#hello === undefined) {
      this.#badFrame({
        code: ErrorCode.BAD_FRAME,
        message: `the first frame must be hello, got ${frame.type}`,
        path: 'type',
        requestId: frame.requestId,
      });
      return;
    }
    switch (frame.type) {
      case WsType.EVENTS:
        this.#ingest.ingest(frame.payload.events, frame.requestId);
        break;
      case WsType.HEARTBEAT:
        this.#lastHeartbeat = new Date(this.#d.clock.now());
        this.#heartbeats?.beat();
        this.#sampleSkew(frame.sentAt, this.#lastHeartbeat.getTime());
        try {
          republishHeartbeat(
            this.#d.nc,
            {
              node: this.node,
              gateway: this.#d.gatewayId,
              agentVersion: this.#hello.agent_version,
              projects: this.#projects(),
            },
            frame.payload,
            this.#lastHeartbeat,
            this.#skew.ms,
          );
        } catch (err) {
          // The beat still counts for liveness; only its copy on hal.hb.<node> is lost.
          this.#warn.warn('heartbeat', { err }, 'heartbeat not republished');
        }
        break;
      case WsType.SNAPSHOT:
        this.#onSnapshot(frame.payload.sessions, frame.requestId).catch((err: unknown) =>
          this.#log.error({ err }, 'snapshot not handled'),
        );
        break;
      case WsType.COMMAND_RESULT:
        this.#onCommandResult(frame.payload);
        break;
    }
  }

  /**
   * node.snapshot with only the sessions this node owns: a session another node reported first
   * is left out (and refused, counted and alerted), so a snapshot cannot move it either.
   */
  async #onSnapshot(sessions: SessionSnapshot[], requestId: string): Promise<void> {
    const owners: string[] = [];
    try {
      // In slices: a snapshot of thousands of new sessions must not fire thousands of KV writes at once.
      for (let i = 0; i < sessions.length; i += 256) {
        const slice = sessions.slice(i, i + 256);
        owners.push(...(await Promise.all(slice.map((s) => this.#d.owners.claim(s.session, this.node)))));
      }
    } catch (err) {
      // Without owners the snapshot cannot be trusted; the next reconnect sends another.
      this.#log.error({ err }, 'snapshot not published: session owners unavailable');
      return;
    }
    const own: SessionSnapshot[] = [];
    const refused: number[] = [];
    sessions.forEach((s, i) => {
      if (owners[i] === this.node) own.push(s);
      else {
        refused.push(i);
        this.#d.metrics.agentRefusalsTotal.inc({ code: ErrorCode.SESSION_OWNED_BY_OTHER_NODE });
        this.#onSessionConflict({ session: s.session, owner: owners[i]!, type: 'node.snapshot', seq: 0 });
      }
    });
    if (refused.length > 0) {
      this.#sendText(
        errorFrame({
          code: ErrorCode.SESSION_OWNED_BY_OTHER_NODE,
          message: `${refused.length} of ${sessions.length} snapshot sessions belong to another node and were left out`,
          path: `payload.sessions[${refused[0]}].session`,
          requestId,
        }),
      );
    }
    await this.#publishSystem(nodeSnapshotEvent(this.node, own, new Date(this.#d.clock.now())));
  }

  /** The control plane's alert (routable as `security.*`); one per session and connection. */
  #onSessionConflict(conflict: SessionConflict): void {
    this.#warn.warn(
      'session-conflict',
      { session: conflict.session, owner: conflict.owner, type: conflict.type },
      "refused a report of another node's session",
    );
    if (this.#alerted.has(conflict.session) || this.#alerted.size >= MAX_CONFLICT_ALERTS) return;
    this.#alerted.add(conflict.session);
    void this.#publishSystem(
      sessionConflictEvent(
        this.node,
        { ...conflict, gateway: this.#d.gatewayId, remote_address: this.#d.remoteAddress },
        new Date(this.#d.clock.now()),
      ),
    );
  }

  /**
   * One skew sample from a frame the host stamped; alerts once when the estimate crosses
   * `alerts.clock_skew_seconds`, and again only after it came back under and crossed anew.
   */
  #sampleSkew(sentAt: string, receivedAt: number): void {
    this.#skew.sample(sentAt, receivedAt);
    const skew = this.#skew.ms;
    if (skew === undefined) return;
    const thresholdSec = this.#d.config.alerts?.clock_skew_seconds ?? DEFAULT_CLOCK_SKEW_SECONDS;
    const past = Math.abs(skew) > thresholdSec * 1000;
    const alerted = this.#d.skewAlerted;
    if (!past) {
      alerted.delete(this.node);
      return;
    }
    if (alerted.has(this.node)) return;
    if (alerted.size > 10_000) alerted.clear();
    alerted.add(this.node);
    this.#log.warn({ clock_skew_ms: skew, threshold_seconds: thresholdSec }, 'node clock is skewed');
    void this.#publishSystem(
      nodeClockSkewEvent(
        this.node,
        { skew_ms: skew, threshold_seconds: thresholdSec, gateway: this.#d.gatewayId },
        new Date(receivedAt),
      ),
    );
  }

  async #onHello(frame: Extract<AgentFrame, { type: 'hello' }>): Promise<void> {
    const receivedAt = this.#d.clock.now();
    if (this.#hello !== undefined || this.#helloPending) {
      this.#badFrame({
        code: ErrorCode.BAD_FRAME,
        message: 'hello was already received on this connection',
        path: 'type',
        requestId: frame.requestId,
      });
      return;
    }
    if (frame.payload.node !== this.node) {
      this.#sendText(
        errorFrame({
          code: ErrorCode.UNAUTHORIZED,
          message: `hello names node "${frame.payload.node}" but this connection authenticated as "${this.node}"`,
          path: 'payload.node',
          requestId: frame.requestId,
        }),
      );
      this.#d.ws.close(CloseCode.POLICY_VIOLATION, 'node mismatch');
      return;
    }
    const negotiated = negotiateProtocol(frame.payload.protocol);
    if (!negotiated.ok) {
      this.#refuse(
        {
          code: ErrorCode.UNSUPPORTED_VERSION,
          message: negotiated.message,
          path: 'payload.protocol',
          requestId: frame.requestId,
        },
        CloseCode.UNSUPPORTED_VERSION,
        'unsupported protocol version',
      );
      return;
    }
    const protocol = formatProtocolVersion(negotiated.version);
    // Instance identity: another instance holding this node id live is refused, never replaced.
    this.#helloPending = true;
    let holder: Awaited<ReturnType<NodeRegistry['holderOf']>>;
    try {
      holder = await this.#d.registry.holderOf(this.node);
    } finally {
      this.#helloPending = false;
      // Right after the rest of this hello (no await below): welcome or refusal goes first, and no
      // socket read can run in between, so the frames keep their order.
      queueMicrotask(() => {
        for (const [data, isBinary] of this.#early.splice(0)) this.#onMessage(data, isBinary);
      });
    }
    if (this.#closed) return;
    const mine = frame.payload.instance_id;
    if (
      holder !== undefined &&
      holder.instance_id !== null &&
      mine !== undefined &&
      holder.instance_id !== mine
    ) {
      const where = (h: { host: string | null; remote_address: string | null; instance_id: string | null }) =>
        `instance ${h.instance_id ?? '?'} on host ${h.host ?? '?'} (${h.remote_address ?? 'unknown address'})`;
      const refused = {
        host: frame.payload.host ?? null,
        remote_address: this.#d.remoteAddress,
        instance_id: mine,
      };
      const message = `node id "${this.node}" is in use by another agent: held by ${where(holder)} via gateway ${holder.gateway}; refused ${where(refused)}. Give each host its own node_id (cloned VMs and containers share a host name)`;
      this.#conflictAlert(holder, refused);
      this.#refuse(
        { code: ErrorCode.NODE_ID_IN_USE, message, path: 'payload.instance_id', requestId: frame.requestId },
        CloseCode.NODE_ID_IN_USE,
        'node id in use',
      );
      return;
    }
    if (negotiated.missing.length > 0) {
      this.#log.warn(
        {
          agent_protocol: protocol,
          gateway_protocol: formatProtocolVersion(WIRE_PROTOCOL),
          missing_features: negotiated.missing.map((m) => m.feature),
          ...(this.#enrolledProjects === undefined ? {} : { projects: this.#enrolledProjects }),
        },
        `agent speaks an older protocol and lacks: ${negotiated.missing.map((m) => `${m.feature} (${m.description})`).join('; ')}; upgrade it`,
      );
    }
    this.#hello = frame.payload;
    // The first skew sample, before any event of this connection is stamped.
    this.#skew.sample(frame.sentAt, receivedAt);
    this.claimedAt = this.#d.clock.now();
    this.#d.registry.hold(this);
    const { config } = this.#d;
    this.#send(
      makeEnvelope(
        WsType.WELCOME,
        {
          node: this.node,
          gateway: this.#d.gatewayId,
          heartbeat_interval_sec: config.heartbeat_interval_sec,
          heartbeat_timeout_count: config.heartbeat_timeout_count,
          max_batch: WS_LIMITS.maxBatch,
          max_frame_bytes: WS_LIMITS.maxFrameBytes,
          protocol,
          gateway_protocol: formatProtocolVersion(WIRE_PROTOCOL),
          missing_features: negotiated.missing.map((m) => m.feature),
          ...(this.#enrolledProjects === undefined ? {} : { projects: this.#enrolledProjects }),
        },
        frame.requestId,
      ),
    );
    this.#heartbeats = watchHeartbeats({
      intervalSec: config.heartbeat_interval_sec,
      timeoutCount: config.heartbeat_timeout_count,
      clock: this.#d.clock,
      onTimeout: () => this.#onHeartbeatTimeout(),
    });
    // Written even while reading is paused for backpressure (a JetStream outage): the agent then
    // still hears from its gateway and does not take the pause for a dead host and reconnect.
    this.#pinger = setInterval(() => {
      if (this.#d.ws.readyState === this.#d.ws.OPEN) this.#d.ws.ping();
    }, AGENT_PING_INTERVAL_MS);
    this.#pinger.unref();
    this.#log.info(
      { agent_version: frame.payload.agent_version, protocol, credential: this.#d.credential.kind },
      'node online',
    );
    this.#publishSystem(
      nodeOnlineEvent(
        this.node,
        {
          agent_version: frame.payload.agent_version,
          projects: this.#projects(),
          gateway: this.#d.gatewayId,
        },
        new Date(this.#d.clock.now()),
      ),
    );
  }

  /** One node.id_conflict alert per (node, refused instance) a minute: a retrying agent is no flood. */
  #conflictAlert(
    holder: {
      gateway: string;
      host: string | null;
      remote_address: string | null;
      instance_id: string | null;
    },
    refused: { host: string | null; remote_address: string | null; instance_id: string },
  ): void {
    const key = `${this.node}\u0000${refused.instance_id}`;
    const now = this.#d.clock.now();
    const last = this.#d.conflictAlerts.get(key);
    if (last !== undefined && now - last < CONFLICT_ALERT_EVERY_MS) return;
    if (this.#d.conflictAlerts.size > 10_000) this.#d.conflictAlerts.clear();
    this.#d.conflictAlerts.set(key, now);
    void this.#publishSystem(nodeIdConflictEvent(this.node, { holder, refused }, new Date(now)));
  }

  /** Turns the agent away before it holds the node: the error frame says why, the close code how to retry. */
  #refuse(problem: FrameProblem, closeCode: number, reason: string): void {
    this.#log.warn({ code: problem.code, remote: this.#d.remoteAddress }, problem.message);
    this.#sendText(errorFrame(problem));
    this.#d.ws.close(closeCode, reason);
  }

  #onCommandResult(payload: WsPayload<'command.result'>): void {
    this.#commands.settle(
      payload.command_id,
      payload.ok ? { ok: true, data: payload.data } : { ok: false, error: payload.error },
    );
  }

  #badFrame(problem: FrameProblem): void {
    this.#sendText(errorFrame(problem));
    this.#d.metrics.eventsRejectedTotal.inc({ code: problem.code });
    const now = this.#d.clock.now();
    this.#badFrames.push(now);
    while (this.#badFrames.length > 0 && this.#badFrames[0]! <= now - this.#d.limits.badFrameWindowMs) {
      this.#badFrames.shift();
    }
    if (this.#badFrames.length >= this.#d.limits.badFrameBudget) {
      this.#log.warn(
        { bad_frames: this.#badFrames.length },
        'closing connection that keeps sending bad frames',
      );
      this.#d.ws.close(CloseCode.POLICY_VIOLATION, 'too many bad frames');
    }
  }

  #onHeartbeatTimeout(): void {
    if (this.#closed) return;
    this.#log.warn('heartbeat timeout');
    this.#endReason = 'heartbeat_timeout';
    // Offline is published now, not after the close handshake, which a dead peer never finishes.
    if (this.#d.registry.release(this)) this.#publishOffline('heartbeat_timeout');
    this.#d.ws.close(CloseCode.HEARTBEAT_TIMEOUT, 'heartbeat timeout');
    setTimeout(() => this.#d.ws.terminate(), 1_000).unref();
  }

  async #onClose(code: number, reason: string): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#heartbeats?.stop();
    clearInterval(this.#pinger);
    this.#ingest.close();
    this.#d.metrics.connectionsActive.dec();
    this.#commands.disconnected();
    this.#log.info({ code, reason, end: this.#endReason ?? 'peer' }, 'agent connection closed');
    try {
      const held = this.#d.registry.release(this);
      if (held && (this.#endReason === undefined || this.#endReason === 'gateway_stopped')) {
        await this.#publishOffline(this.#endReason ?? 'socket_closed');
      }
    } finally {
      this.#resolveDone();
    }
  }

  #publishOffline(reason: OfflineReason): Promise<void> {
    this.#log.info({ reason }, 'node offline');
    return this.#publishSystem(
      nodeOfflineEvent(this.node, { reason, gateway: this.#d.gatewayId }, new Date(this.#d.clock.now())),
    );
  }

  #publishSystem(event: EventRecord): Promise<void> {
    return publishSystemEvent(this.#d.js, event).catch((err: unknown) => {
      this.#log.error({ err, type: event.type }, 'system event publish failed');
    });
  }
}
