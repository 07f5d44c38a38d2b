import type { Socket } from 'node:net';
import { createRateLimitedLog, type Logger } from '@hal/observability';
import {
  WsCloseCode as CloseCode,
  type CommandRequest,
  type EnrollmentRecord,
  EnrollmentStatus,
  ErrorCode,
  formatProtocolVersion,
  HalError,
  makeEnvelope,
  type Reply,
  toHalError,
  type WsPayload,
  WsType,
} from '@hal/protocol';
import type { RawData } from 'ws';
import type { AgentConnectionDeps, IngestStats } from './agent-connection-deps.ts';
import { credentialEndReason } from './enrollment-watch.ts';
import { EventIngest } from './event-ingest.ts';
import { type AgentFrame, BadFrameWindow, errorFrame, type FrameProblem, parseFrame } from './frames.ts';
import { HeartbeatRelay } from './heartbeat-relay.ts';
import {
  checkHello,
  type HelloRefusal,
  holderRefusal,
  warnMissingFeatures,
  welcomePayload,
} from './hello-admission.ts';
import { NodeAnnouncements } from './node-announcements.ts';
import type { HeldConnection, NodeInfo, NodeRegistry } from './node-registry.ts';
import { publishNodeSnapshot } from './node-snapshot.ts';
import { PendingCommands } from './pending-commands.ts';
import type { OfflineReason } from './system-events.ts';

/** `alerts.clock_skew_seconds` when the config has no `alerts` section (tests' plain configs). */
const DEFAULT_CLOCK_SKEW_SECONDS = 30;
const MAX_EARLY_FRAMES = 64;

/**
 * One agent socket, from hello to close: validates every frame, publishes events with
 * pipelined JetStream publishes, acks in order, relays heartbeats and commands, and publishes
 * node.online/offline/snapshot. The parts a connection may never need (event ingest, pending
 * commands, the rate-limited log) are made on first use: a gateway holds thousands of idle
 * connections, and each one's memory is the figure #13 sets a goal on.
 */
export class AgentConnection implements HeldConnection {
  readonly node: string;
  readonly id = crypto.randomUUID();
  claimedAt = 0;

  readonly #d: AgentConnectionDeps;
  readonly #log: Logger;
  #ingestPart: EventIngest | undefined;
  #commandsPart: PendingCommands | undefined;
  readonly #badFrames: BadFrameWindow;
  #warnLog: ReturnType<typeof createRateLimitedLog> | undefined;
  readonly #announce: NodeAnnouncements;
  #hello: WsPayload<'hello'> | undefined;
  /** Between hello and the holder check: a second hello in that window is a bad frame. */
  #helloPending = false;
  /** Frames that arrived while hello was being checked. */
  readonly #early: Array<[RawData, boolean]> = [];
  /** Set for an enrolled node: the projects its record names (they follow the record live). */
  #enrolledProjects: Array<{ name: string; directory: string }> | undefined;
  #connectedAt: Date;
  readonly #heartbeats: HeartbeatRelay;
  #closed = false;
  /** Why this side ended the connection; unset means the peer or the network did. */
  #endReason: OfflineReason | undefined;
  /** Set once the socket is closed and node.offline (if due) is published. */
  #finished = false;
  /** Callers of `closed()` waiting for `#finished` (the gateway's stop only). */
  #closeWaiters: Array<() => void> | undefined;

  constructor(deps: AgentConnectionDeps) {
    this.#d = deps;
    this.node = deps.node;
    if (deps.credential.kind === 'enrolled') this.#enrolledProjects = [...deps.credential.projects];
    this.#connectedAt = new Date(deps.clock.now());
    this.#badFrames = new BadFrameWindow(deps.limits.badFrameWindowMs);
    this.#log = deps.log.child({ component: 'agent-connection', node: deps.node, connection: this.id });
    this.#heartbeats = new HeartbeatRelay({
      nc: deps.nc,
      clock: deps.clock,
      onSkew: (skewMs, at) => this.#announce.skew(skewMs, at),
      warn: () => this.#warn,
    });
    this.#announce = new NodeAnnouncements({
      node: deps.node,
      gatewayId: deps.gatewayId,
      remoteAddress: deps.remoteAddress,
      js: deps.js,
      log: this.#log,
      clock: deps.clock,
      conflictAlerts: deps.conflictAlerts,
      skewAlerted: deps.skewAlerted,
      skewThresholdSec: deps.config.alerts?.clock_skew_seconds ?? DEFAULT_CLOCK_SKEW_SECONDS,
    });
    deps.metrics.connectionsActive.inc();
    deps.ws.on('message', (data, isBinary) => this.#onMessage(data, isBinary));
    deps.ws.on('close', (code, reason) => void this.#onClose(code, reason.toString()));
    deps.ws.on('error', (err) => this.#log.warn({ err }, 'agent socket error'));
  }

  get #ingest(): EventIngest {
    const d = this.#d;
    this.#ingestPart ??= new EventIngest({
      node: d.node,
      js: d.js,
      log: this.#log,
      metrics: d.metrics,
      limits: d.limits,
      budget: d.budget,
      owners: d.owners,
      onSessionConflict: (conflict) => this.#announce.sessionConflict(conflict),
      // ws offers no public pause: its socket is the only lever for TCP backpressure.
      socket: (d.ws as unknown as { _socket?: Socket })._socket,
      send: (frame) => this.#sendText(frame),
      isClosed: () => this.#closed,
      clock: d.clock,
      skewMs: () => this.#heartbeats.skewMs,
    });
    return this.#ingestPart;
  }

  get #commands(): PendingCommands {
    this.#commandsPart ??= new PendingCommands(this.node, this.#log);
    return this.#commandsPart;
  }

  get #warn(): ReturnType<typeof createRateLimitedLog> {
    this.#warnLog ??= createRateLimitedLog(this.#log);
    return this.#warnLog;
  }

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
    if (this.#closed || this.#hello === undefined) return;
    if (this.#d.ws.readyState === this.#d.ws.OPEN) this.#d.ws.ping();
  }

  info(): NodeInfo {
    return {
      node: this.node,
      gateway: this.#d.gatewayId,
      connection: this.id,
      agent_version: this.#hello?.agent_version ?? '',
      projects: this.#projects(),
      connected_at: this.#connectedAt.toISOString(),
      last_heartbeat_at: this.#heartbeats.lastHeartbeat?.toISOString() ?? null,
      remote_address: this.#d.remoteAddress,
      instance_id: this.#hello?.instance_id ?? null,
      host: this.#hello?.host ?? null,
      clock_skew_ms: this.#heartbeats.skewMs ?? null,
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
    const reason = credentialEndReason(cred, record);
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
    this.#heartbeats.check();
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
        this.#refuse({
          problem: parsed.problem,
          closeCode: CloseCode.UNSUPPORTED_VERSION,
          reason: 'unsupported protocol version',
        });
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
        this.#heartbeats.beat(
          {
            node: this.node,
            gateway: this.#d.gatewayId,
            agentVersion: this.#hello.agent_version,
            projects: this.#projects(),
          },
          frame.sentAt,
          frame.payload,
        );
        break;
      case WsType.SNAPSHOT:
        publishNodeSnapshot(
          {
            node: this.node,
            owners: this.#d.owners,
            metrics: this.#d.metrics,
            log: this.#log,
            clock: this.#d.clock,
            onSessionConflict: (conflict) => this.#announce.sessionConflict(conflict),
            send: (frame) => this.#sendText(frame),
            publish: (event) => this.#announce.publish(event),
          },
          frame.payload.sessions,
          frame.requestId,
        ).catch((err: unknown) => this.#log.error({ err }, 'snapshot not handled'));
        break;
      case WsType.COMMAND_RESULT:
        this.#onCommandResult(frame.payload);
        break;
    }
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
    const checked = checkHello(frame.payload, frame.requestId, this.node);
    if ('refusal' in checked) {
      this.#refuse(checked.refusal);
      return;
    }
    const { negotiated } = checked;
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
    const taken = holderRefusal(holder, frame.payload, frame.requestId, this.node, this.#d.remoteAddress);
    if (taken !== undefined) {
      this.#announce.idConflict(taken.holder, taken.refused);
      this.#refuse(taken);
      return;
    }
    warnMissingFeatures(this.#log, negotiated, this.#enrolledProjects);
    this.#hello = frame.payload;
    this.#heartbeats.hello(frame.sentAt, receivedAt);
    this.claimedAt = this.#d.clock.now();
    this.#d.registry.hold(this);
    const { config } = this.#d;
    this.#send(
      makeEnvelope(
        WsType.WELCOME,
        welcomePayload({
          node: this.node,
          gateway: this.#d.gatewayId,
          heartbeatIntervalSec: config.heartbeat_interval_sec,
          heartbeatTimeoutCount: config.heartbeat_timeout_count,
          negotiated,
          projects: this.#enrolledProjects,
        }),
        frame.requestId,
      ),
    );
    this.#heartbeats.watch({
      intervalSec: config.heartbeat_interval_sec,
      timeoutCount: config.heartbeat_timeout_count,
      onTimeout: () => this.#onHeartbeatTimeout(),
    });
    this.#log.info(
      {
        agent_version: frame.payload.agent_version,
        protocol: formatProtocolVersion(negotiated.version),
        credential: this.#d.credential.kind,
      },
      'node online',
    );
    this.#announce.online({ agent_version: frame.payload.agent_version, projects: this.#projects() });
  }

  /** Turns the agent away before it holds the node: the error frame says why, the close code how to retry. */
  #refuse({ problem, closeCode, reason }: HelloRefusal): void {
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
    const recent = this.#badFrames.note(this.#d.clock.now());
    if (recent >= this.#d.limits.badFrameBudget) {
      this.#log.warn({ bad_frames: recent }, 'closing connection that keeps sending bad frames');
      this.#d.ws.close(CloseCode.POLICY_VIOLATION, 'too many bad frames');
    }
  }

  #onHeartbeatTimeout(): void {
    if (this.#closed) return;
    this.#log.warn('heartbeat timeout');
    this.#endReason = 'heartbeat_timeout';
    // Offline is published now, not after the close handshake, which a dead peer never finishes.
    if (this.#d.registry.release(this)) this.#announce.offline('heartbeat_timeout');
    this.#d.ws.close(CloseCode.HEARTBEAT_TIMEOUT, 'heartbeat timeout');
    setTimeout(() => this.#d.ws.terminate(), 1_000).unref();
  }

  async #onClose(code: number, reason: string): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#heartbeats.stop();
    this.#ingestPart?.close();
    this.#d.metrics.connectionsActive.dec();
    this.#commandsPart?.disconnected();
    this.#log.info({ code, reason, end: this.#endReason ?? 'peer' }, 'agent connection closed');
    try {
      const held = this.#d.registry.release(this);
      if (held && (this.#endReason === undefined || this.#endReason === 'gateway_stopped')) {
        await this.#announce.offline(this.#endReason ?? 'socket_closed');
      }
    } finally {
      this.#finished = true;
      this.#d.onClosed(this);
      for (const resolve of this.#closeWaiters?.splice(0) ?? []) resolve();
    }
  }
}
