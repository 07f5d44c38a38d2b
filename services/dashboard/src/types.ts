// Shapes of the API's answers: the types of the very zod schemas that build its OpenAPI document
// (type-only imports, erased from the bundle).
export type {
  AuditRecord,
  BudgetView,
  CostReport,
  LogEntry,
  NodeView,
  PolicyView,
  SessionView,
  StoredEvent,
} from '@hal/protocol';

/** `GET /api/v1/fleet/summary`. */
export interface FleetSummary {
  nodes: { total: number; online: number; offline: number };
  sessions: { total: number; by_state: Record<string, number> };
}

/** Session states in the order people read them. */
export const STATES = [
  'waiting_input',
  'running',
  'starting',
  'idle',
  'compacted',
  'error',
  'unreachable',
  'killed',
  'completed',
] as const;
