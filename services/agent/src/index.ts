// The public surface of @hal/agent: the agent and the pieces its tests and the supervisor compose.
export { type Agent, createAgent } from './agent.ts';

export { createConnection } from './connection.ts';
export { createEnvModule } from './env/env-module.ts';

export { unifiedDiff } from './env/text-diff.ts';
export { fitEventData } from './event-fit.ts';
export {
  createMapperState,
  isDroppedType,
  type MappedEvent,
  mapOpencodeEvent,
  RAW_PROPERTIES_LIMIT,
  rawType,
  storedMessageEvents,
} from './event-mapper.ts';
export { loadInstanceId } from './instance-id.ts';

export { createOpencodeProcess } from './opencode-process.ts';
export { openRecoveryMemory } from './recovery-memory.ts';

export { type EventDraft, openSpool, type Spool, type SpooledEvent } from './spool.ts';
