import {
  type Envelope,
  ErrorCode,
  envelopeSchema,
  formatPath,
  formatProtocolVersion,
  makeEnvelope,
  oldestAccepted,
  WIRE_PROTOCOL,
  type WsPayload,
  WsType,
  wsPayloadSchemas,
} from '@hal/protocol';

/** The frame types an agent may send; the gateway's own types coming back are unknown commands. */
const AGENT_TYPES = [
  WsType.HELLO,
  WsType.EVENTS,
  WsType.HEARTBEAT,
  WsType.SNAPSHOT,
  WsType.COMMAND_RESULT,
] as const;
type AgentType = (typeof AGENT_TYPES)[number];

export type AgentFrame = {
  /** `sentAt`: the envelope's timestamp, by the host's clock (how its skew is measured). */
  [T in AgentType]: { type: T; requestId: string; sentAt: string; payload: WsPayload<T> };
}[AgentType];

export interface FrameProblem {
  code: ErrorCode;
  message: string;
  /** Where in the frame, like `payload.projects[0].name`. */
  path?: string;
  requestId?: string;
  /** The command a refused `command.result` answers, so its caller gets the refusal at once. */
  commandId?: string;
}

export type ParsedFrame = { ok: true; frame: AgentFrame } | { ok: false; problem: FrameProblem };

function isAgentType(type: string): type is AgentType {
  return (AGENT_TYPES as readonly string[]).includes(type);
}

/**
 * Parses one text frame in the order the protocol fixes the codes: JSON, envelope, version,
 * type, payload. The first problem wins, reported with the path of what was wrong.
 */
export function parseFrame(text: string): ParsedFrame {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { ok: false, problem: { code: ErrorCode.BAD_FRAME, message: 'frame is not valid JSON' } };
  }
  const env = envelopeSchema.safeParse(raw);
  if (!env.success) {
    const issue = env.error.issues[0];
    const path = formatPath(issue?.path ?? []);
    const requestId =
      typeof raw === 'object' && raw !== null && typeof (raw as Envelope).request_id === 'string'
        ? (raw as Envelope).request_id.slice(0, 128)
        : undefined;
    return {
      ok: false,
      problem: {
        code: ErrorCode.BAD_FRAME,
        message: `invalid envelope: ${path}: ${issue?.message ?? 'invalid'}`,
        path,
        ...(requestId === undefined ? {} : { requestId }),
      },
    };
  }
  const { version, type, request_id: requestId, timestamp: sentAt, payload } = env.data;
  // The envelope carries the major only; the minor is checked on hello (agent-connection.ts).
  if (version !== WIRE_PROTOCOL.major) {
    const ours = formatProtocolVersion(WIRE_PROTOCOL);
    const oldest = formatProtocolVersion(oldestAccepted());
    return {
      ok: false,
      problem: {
        code: ErrorCode.UNSUPPORTED_VERSION,
        message: `agent speaks protocol ${version}.x, this gateway speaks protocol ${ours} (another major version; it accepts agents ${oldest} to ${WIRE_PROTOCOL.major}.x): upgrade the ${version < WIRE_PROTOCOL.major ? 'agent' : 'gateway'}`,
        path: 'version',
        requestId,
      },
    };
  }
  if (!isAgentType(type)) {
    return {
      ok: false,
      problem: {
        code: ErrorCode.UNKNOWN_COMMAND,
        message: `unknown frame type "${type}"; an agent may send ${AGENT_TYPES.join(', ')}`,
        path: 'type',
        requestId,
      },
    };
  }
  const parsed = wsPayloadSchemas[type].safeParse(payload);
  if (!parsed.success) {
    // A limit (nesting depth) is the problem that matters, whatever else is wrong.
    const issues = parsed.error.issues;
    const limit = issues.find((i) => i.code === 'custom' && i.params?.limit !== undefined);
    const issue = limit ?? issues[0];
    const path = formatPath(['payload', ...(issue?.path ?? [])]);
    const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : '';
    const commandId = type === WsType.COMMAND_RESULT ? commandIdOf(payload) : undefined;
    return {
      ok: false,
      problem: {
        code: limit === undefined ? ErrorCode.VALIDATION_FAILED : ErrorCode.LIMIT_EXCEEDED,
        message: `invalid ${type} payload: ${path}: ${issue?.message ?? 'invalid'}${more}`,
        path,
        requestId,
        ...(commandId === undefined ? {} : { commandId }),
      },
    };
  }
  return { ok: true, frame: { type, requestId, sentAt, payload: parsed.data } as AgentFrame };
}

function commandIdOf(payload: unknown): string | undefined {
  if (typeof payload !== 'object' || payload === null) return undefined;
  const id = (payload as { command_id?: unknown }).command_id;
  return typeof id === 'string' && id.length <= 128 ? id : undefined;
}

/** The `error` frame for a problem; `rejectedSeqs` tells the agent which events to drop. */
export function errorFrame(problem: FrameProblem, rejectedSeqs?: number[]): string {
  const payload: WsPayload<'error'> = { code: problem.code, message: problem.message };
  if (problem.path !== undefined) payload.path = problem.path;
  if (rejectedSeqs !== undefined && rejectedSeqs.length > 0) payload.rejected_seqs = rejectedSeqs;
  return JSON.stringify(makeEnvelope(WsType.ERROR, payload, problem.requestId));
}

/** When the bad frames of one connection arrived: how many fall in the last `windowMs`. */
export class BadFrameWindow {
  readonly #at: number[] = [];
  readonly #windowMs: number;

  constructor(windowMs: number) {
    this.#windowMs = windowMs;
  }

  /** Records a bad frame at `now`; returns how many arrived within the window, this one included. */
  note(now: number): number {
    this.#at.push(now);
    while (this.#at.length > 0 && this.#at[0]! <= now - this.#windowMs) this.#at.shift();
    return this.#at.length;
  }
}
