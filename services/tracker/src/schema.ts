import { desc } from 'drizzle-orm';
import { index, integer, primaryKey, real, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core';

// Every table is a projection of HAL_EVENTS (plus heartbeats for node liveness), so the whole
// file can be deleted and rebuilt by replaying the stream. Times are ISO strings normalised to
// UTC (`toISOString`), so string order is time order. JSON columns hold arrays/objects as text.

export const nodes = sqliteTable('nodes', {
  node: text('node').primaryKey(),
  status: text('status').notNull(),
  gateway: text('gateway'),
  agentVersion: text('agent_version'),
  /** JSON `[{name, directory}]`. */
  projects: text('projects').notNull().default('[]'),
  lastHeartbeatAt: text('last_heartbeat_at'),
  onlineSince: text('online_since'),
  /** JSON of the last heartbeat's resources, or null before the first heartbeat. */
  resources: text('resources'),
});

export const sessions = sqliteTable(
  'sessions',
  {
    session: text('session').primaryKey(),
    node: text('node').notNull(),
    project: text('project').notNull(),
    state: text('state').notNull(),
    /** The state to return to when an `unreachable` node comes back without a snapshot. */
    priorState: text('prior_state'),
    /** `state_since` of `prior_state`: how long it has been idle survives an unreachable spell. */
    priorStateSince: text('prior_state_since'),
    title: text('title'),
    directory: text('directory'),
    model: text('model'),
    provider: text('provider'),
    currentTask: text('current_task'),
    tokensInput: integer('tokens_input').notNull().default(0),
    tokensOutput: integer('tokens_output').notNull().default(0),
    tokensReasoning: integer('tokens_reasoning').notNull().default(0),
    tokensCacheRead: integer('tokens_cache_read').notNull().default(0),
    tokensCacheWrite: integer('tokens_cache_write').notNull().default(0),
    costUsd: real('cost_usd').notNull().default(0),
    compactions: integer('compactions').notNull().default(0),
    errors: integer('errors').notNull().default(0),
    lastError: text('last_error'),
    /** JSON array of permission ids still waiting for an answer. */
    pendingPermissions: text('pending_permissions').notNull().default('[]'),
    /** JSON `{attempt, message, next_at}` of the last `session.retry`, null once the session moves on. */
    retry: text('retry'),
    startedAt: text('started_at'),
    /** When the session entered its current state (event time); null = since started_at. */
    stateSince: text('state_since'),
    /** The session this one was restarted from (a hand-off), from the restart's command.executed. */
    previousSession: text('previous_session'),
    /** '' until the first event, so keyset pagination never compares with NULL. */
    lastActivityAt: text('last_activity_at').notNull().default(''),
  },
  (t) => [
    // Matches the list order (latest activity first, then id) so a page is an index range scan.
    index('sessions_activity_idx').on(desc(t.lastActivityAt), t.session),
    index('sessions_node_idx').on(t.node),
    index('sessions_state_idx').on(t.state),
    index('sessions_previous_idx').on(t.previousSession),
  ],
);

/**
 * The latest `message.completed` of each message. Session totals are kept by adding the
 * difference to the previous figures of the same message, so a repeat never double counts.
 */
export const sessionMessages = sqliteTable(
  'session_messages',
  {
    session: text('session').notNull(),
    messageId: text('message_id').notNull(),
    tokensInput: integer('tokens_input').notNull(),
    tokensOutput: integer('tokens_output').notNull(),
    tokensReasoning: integer('tokens_reasoning').notNull(),
    tokensCacheRead: integer('tokens_cache_read').notNull(),
    tokensCacheWrite: integer('tokens_cache_write').notNull(),
    costUsd: real('cost_usd').notNull(),
    model: text('model').notNull(),
    provider: text('provider').notNull(),
    streamSeq: integer('stream_seq').notNull(),
  },
  (t) => [primaryKey({ columns: [t.session, t.messageId] })],
);

/** The assistant's text and tool calls (and the user's prompts), one row per part, in stream order. */
export const sessionLog = sqliteTable(
  'session_log',
  {
    /** Stream sequence of the part's first appearance: its place in the log. */
    streamSeq: integer('stream_seq').primaryKey(),
    session: text('session').notNull(),
    messageId: text('message_id').notNull(),
    partId: text('part_id').notNull(),
    role: text('role').notNull(),
    kind: text('kind').notNull(),
    text: text('text'),
    tool: text('tool'),
    toolStatus: text('tool_status'),
    time: text('time').notNull(),
  },
  (t) => [
    // Also serves a session's log (a session's parts are few enough to sort); every extra index
    // here costs the projection on its hottest event type.
    uniqueIndex('session_log_part_idx').on(t.session, t.messageId, t.partId),
    index('session_log_time_idx').on(t.time),
  ],
);

export const events = sqliteTable(
  'events',
  {
    streamSeq: integer('stream_seq').primaryKey(),
    id: text('id').notNull(),
    node: text('node').notNull(),
    project: text('project').notNull(),
    session: text('session'),
    type: text('type').notNull(),
    time: text('time').notNull(),
    /** The event record as JSON, exactly as read from the stream. */
    record: text('record').notNull(),
  },
  (t) => [
    uniqueIndex('events_id_idx').on(t.id),
    index('events_session_idx').on(t.session, t.streamSeq),
    index('events_time_idx').on(t.time),
  ],
);

/** Small key/value facts about the projection, e.g. `applied_seq`: the last stream sequence applied. */
export const meta = sqliteTable('meta', {
  key: text('key').primaryKey(),
  value: text('value').notNull(),
});

/**
 * The latest environment check of each node × project (`env.check.pass|fail` events). Keyed by
 * the event's node and project, never by what the data claims: a host reports only for itself.
 */
export const envResults = sqliteTable(
  'env_results',
  {
    node: text('node').notNull(),
    project: text('project').notNull(),
    status: text('status').notNull(),
    checkedAt: text('checked_at').notNull(),
    revision: integer('revision').notNull(),
    /** The whole result as JSON (items and drift). */
    result: text('result').notNull(),
    streamSeq: integer('stream_seq').notNull(),
  },
  (t) => [primaryKey({ columns: [t.node, t.project] })],
);
