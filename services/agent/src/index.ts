// The public surface of @hal/agent: the agent and the pieces its tests and the supervisor compose.
export { AGENT_VERSION, type Agent, type AgentDeps, type AgentSettings, createAgent } from './agent.ts';
export { type CommandRunner, createCommandRunner, DEFAULT_RESUME_PROMPT } from './commands.ts';
export { backoffDelay, type Connection, type ConnectionDeps, createConnection } from './connection.ts';
export { createEnvModule, type EnvModule, type EnvModuleDeps, type EnvSettings } from './env/env-module.ts';
export { milestonesIn } from './env/milestone-watch.ts';
export { unifiedDiff } from './env/text-diff.ts';
export { fitEventData } from './event-fit.ts';
export {
  createMapperState,
  DROPPED_OPENCODE_TYPES,
  isDroppedType,
  type MappedEvent,
  type MapperState,
  mapOpencodeEvent,
  PART_TEXT_LIMIT,
  RAW_PROPERTIES_LIMIT,
  rawType,
  storedMessageEvents,
} from './event-mapper.ts';
export { loadInstanceId } from './instance-id.ts';
export { createOpencodeClient, type OpencodeClient, type OpencodeClientOptions } from './opencode-client.ts';
export {
  createOpencodeEvents,
  type OpencodeEvents,
  type ProjectEvent,
  type ProjectRef,
} from './opencode-events.ts';
export { createOpencodeProcess, type OpencodeProcess } from './opencode-process.ts';
export {
  openRecoveryMemory,
  type RecoveryMemory,
  type RestoredMarks,
  type SeenMarks,
} from './recovery-memory.ts';
export { createSessionRegistry, type SessionRegistry } from './session-registry.ts';
export { type EventDraft, openSpool, type Spool, type SpooledEvent } from './spool.ts';
