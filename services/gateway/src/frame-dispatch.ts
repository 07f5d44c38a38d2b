import { WsCloseCode as CloseCode, ErrorCode, toHalError, WsType } from '@hal/protocol';
import type { RawData } from 'ws';
import type { AgentConnection } from './agent-connection.ts';
import { errorFrame, type FrameProblem, parseFrame } from './frames.ts';
import { onHello, refuse } from './hello-flow.ts';
import { publishNodeSnapshot } from './node-snapshot.ts';

const MAX_EARLY_FRAMES = 64;

/**
 * One frame from an agent, in the protocol's order: hello first (`hello-flow.ts`), then events,
 * heartbeats, snapshots and command results. Nothing an agent sends may throw out of here: an
 * escaped exception would take the whole gateway (and, all-in-one, the supervisor) down with it.
 */
export function onFrame(conn: AgentConnection, data: RawData, isBinary: boolean): void {
  if (conn.isClosed()) return;
  try {
    handleFrame(conn, data, isBinary);
  } catch (err) {
    conn.log.error({ err }, 'frame handling failed');
    badFrame(conn, { code: ErrorCode.INTERNAL, message: `frame not handled: ${toHalError(err).code}` });
  }
}

/** Answers a bad frame with its error, and closes a connection that keeps sending them. */
export function badFrame(conn: AgentConnection, problem: FrameProblem): void {
  conn.send(errorFrame(problem));
  conn.metrics.eventsRejectedTotal.inc({ code: problem.code });
  const recent = conn.badFrames.note(conn.clock.now());
  if (recent >= conn.limits.badFrameBudget) {
    conn.log.warn({ bad_frames: recent }, 'closing connection that keeps sending bad frames');
    conn.ws.close(CloseCode.POLICY_VIOLATION, 'too many bad frames');
  }
}

function handleFrame(conn: AgentConnection, data: RawData, isBinary: boolean): void {
  if (conn.helloPending) {
    // Frames sent right behind hello wait for its check (the holder look-up), in order.
    conn.early ??= [];
    if (conn.early.length < MAX_EARLY_FRAMES) conn.early.push([data, isBinary]);
    else badFrame(conn, { code: ErrorCode.BAD_FRAME, message: 'too many frames before welcome' });
    return;
  }
  if (isBinary) {
    badFrame(conn, { code: ErrorCode.BAD_FRAME, message: 'frames must be JSON text, not binary' });
    return;
  }
  const text = Array.isArray(data) ? Buffer.concat(data).toString('utf8') : data.toString();
  const parsed = parseFrame(text);
  if (!parsed.ok) {
    if (parsed.problem.code === ErrorCode.UNSUPPORTED_VERSION && conn.hello === undefined) {
      refuse(conn, {
        problem: parsed.problem,
        closeCode: CloseCode.UNSUPPORTED_VERSION,
        reason: 'unsupported protocol version',
      });
      return;
    }
    badFrame(conn, parsed.problem);
    // The caller of a command whose answer was refused learns why now, not at its timeout.
    const { commandId } = parsed.problem;
    if (commandId !== undefined) {
      conn.commands.settle(commandId, {
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
    void onHello(conn, frame).catch((err: unknown) => {
      conn.log.error({ err }, 'hello handling failed');
      conn.ws.close(CloseCode.POLICY_VIOLATION, 'hello failed');
    });
    return;
  }
  const hello = conn.hello;
  if (hello === undefined) {
    badFrame(conn, {
      code: ErrorCode.BAD_FRAME,
      message: `the first frame must be hello, got ${frame.type}`,
      path: 'type',
      requestId: frame.requestId,
    });
    return;
  }
  switch (frame.type) {
    case WsType.EVENTS:
      conn.ingest.ingest(frame.payload.events, frame.requestId);
      break;
    case WsType.HEARTBEAT: {
      const now = conn.clock.now();
      let skew: number | undefined;
      try {
        skew = conn.heartbeats.beat(
          conn.nc,
          {
            node: conn.node,
            gateway: conn.gatewayId,
            agentVersion: hello.agent_version,
            projects: conn.projects(),
          },
          frame.sentAt,
          frame.payload,
          now,
        );
      } catch (err) {
        // The beat still counts for liveness; only its copy on hal.hb.<node> is lost.
        skew = conn.heartbeats.skewMs;
        conn.warn.warn('heartbeat', { err }, 'heartbeat not republished');
      }
      if (skew !== undefined) conn.announce.skew(skew, now);
      break;
    }
    case WsType.SNAPSHOT:
      publishNodeSnapshot(
        {
          node: conn.node,
          owners: conn.owners,
          metrics: conn.metrics,
          log: conn.log,
          clock: conn.clock,
          onSessionConflict: (conflict) => conn.announce.sessionConflict(conflict),
          send: (f) => conn.send(f),
          publish: (event) => conn.announce.publish(event),
        },
        frame.payload.sessions,
        frame.requestId,
      ).catch((err: unknown) => conn.log.error({ err }, 'snapshot not handled'));
      break;
    case WsType.COMMAND_RESULT: {
      const p = frame.payload;
      conn.commands.settle(p.command_id, p.ok ? { ok: true, data: p.data } : { ok: false, error: p.error });
      break;
    }
  }
}
