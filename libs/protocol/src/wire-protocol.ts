/**
 * The version of the agent ↔ gateway WebSocket protocol, apart from the schema version of what
 * is stored (events, audit records: `SCHEMA_VERSION`). A rolling upgrade needs the two apart:
 * the wire changes whenever the agent and the gateway learn something new of each other, while
 * stored events must stay readable by every consumer.
 *
 * `major.minor`: the envelope's `version` carries the major, `hello.protocol` and
 * `welcome.protocol` the full version. A gateway accepts agents of its own major whose minor is
 * at most one behind its own (they lack the features of the newer minor, and the gateway says
 * which); an older minor or another major is refused with UNSUPPORTED_VERSION. An agent newer
 * than its gateway speaks the gateway's version (the lower of the two), so agents may be
 * upgraded first. docs/UPGRADE.md gives the order.
 */
export interface ProtocolVersion {
  major: number;
  minor: number;
}

/** What this code speaks. Bump the minor for every change of the wire, and add its features below. */
export const WIRE_PROTOCOL: Readonly<ProtocolVersion> = Object.freeze({ major: 1, minor: 2 });

/** How many minors behind the gateway an agent may be. */
const WIRE_MINORS_BEHIND_ACCEPTED = 1;

/** A hello without `protocol` comes from an agent older than the version split. */
const LEGACY_PROTOCOL: Readonly<ProtocolVersion> = Object.freeze({ major: 1, minor: 0 });

export const WireFeature = {
  VERSION_NEGOTIATION: 'version_negotiation',
  INSTANCE_IDENTITY: 'instance_identity',
} as const;
export type WireFeature = (typeof WireFeature)[keyof typeof WireFeature];

/** Each feature, the version that brought it, and what an agent without it does not get. */
const WIRE_FEATURES: ReadonlyArray<{
  feature: WireFeature;
  since: Readonly<ProtocolVersion>;
  description: string;
}> = [
  {
    feature: WireFeature.VERSION_NEGOTIATION,
    since: { major: 1, minor: 1 },
    description: 'hello/welcome carry "protocol": the agent learns which version the gateway speaks',
  },
  {
    feature: WireFeature.INSTANCE_IDENTITY,
    since: { major: 1, minor: 2 },
    description:
      "hello carries the agent instance id and host: a second host using the same node id is refused (NODE_ID_IN_USE) instead of taking the node over; without it, this agent's reconnect takes its node over as in 1.1",
  },
];

const VERSION_PATTERN = /^(\d{1,4})\.(\d{1,4})$/;

export function formatProtocolVersion(v: ProtocolVersion): string {
  return `${v.major}.${v.minor}`;
}

/** `"1.2"` → `{major: 1, minor: 2}`; undefined when it is not `<major>.<minor>`. */
function parseProtocolVersion(text: string): ProtocolVersion | undefined {
  const m = VERSION_PATTERN.exec(text);
  if (!m) return undefined;
  return { major: Number(m[1]), minor: Number(m[2]) };
}

function compare(a: ProtocolVersion, b: ProtocolVersion): number {
  return a.major - b.major || a.minor - b.minor;
}

export type Negotiation =
  | {
      ok: true;
      /** The version both sides speak from now on: the lower of the two. */
      version: ProtocolVersion;
      /** Features of the gateway's version the agent lacks (empty when it is current or newer). */
      missing: Array<{ feature: WireFeature; description: string }>;
    }
  | { ok: false; message: string };

/** The oldest agent version a gateway of version `gateway` accepts. */
export function oldestAccepted(gateway: ProtocolVersion = WIRE_PROTOCOL): ProtocolVersion {
  return { major: gateway.major, minor: Math.max(0, gateway.minor - WIRE_MINORS_BEHIND_ACCEPTED) };
}

/**
 * The gateway's decision on an agent's version (`hello.protocol`; absent = 1.0, the version
 * before the split). The refusal message names both versions, so whoever reads the agent's log
 * knows which side to upgrade.
 */
export function negotiateProtocol(
  agent: string | undefined,
  gateway: ProtocolVersion = WIRE_PROTOCOL,
): Negotiation {
  const parsed = agent === undefined ? LEGACY_PROTOCOL : parseProtocolVersion(agent);
  const ours = formatProtocolVersion(gateway);
  const oldest = oldestAccepted(gateway);
  const range = `${formatProtocolVersion(oldest)} to ${gateway.major}.x`;
  if (parsed === undefined) {
    return {
      ok: false,
      message: `agent protocol "${agent}" is not a <major>.<minor> version; this gateway speaks protocol ${ours} and accepts agents ${range}`,
    };
  }
  const theirs = formatProtocolVersion(parsed);
  if (parsed.major !== gateway.major) {
    const older = parsed.major < gateway.major ? 'agent' : 'gateway';
    return {
      ok: false,
      message: `agent speaks protocol ${theirs}, this gateway speaks protocol ${ours} (another major version; it accepts agents ${range}): upgrade the ${older}`,
    };
  }
  if (compare(parsed, oldest) < 0) {
    return {
      ok: false,
      message: `agent speaks protocol ${theirs}, this gateway speaks protocol ${ours} and accepts agents ${range} (at most ${WIRE_MINORS_BEHIND_ACCEPTED} minor version behind): upgrade the agent`,
    };
  }
  const version = compare(parsed, gateway) < 0 ? parsed : { ...gateway };
  const missing = WIRE_FEATURES.filter(
    (f) => f.since.major === gateway.major && compare(f.since, gateway) <= 0 && compare(f.since, version) > 0,
  ).map((f) => ({ feature: f.feature, description: f.description }));
  return { ok: true, version, missing };
}
