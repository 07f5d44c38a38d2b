import { index, integer, primaryKey, sqliteTable, text } from 'drizzle-orm/sqlite-core';

// Money columns are integer micro-dollars (see money.ts); days are UTC `YYYY-MM-DD`.

/** Provider usage per UTC day × model × workspace/project × API key; a re-poll replaces the days it covers. */
export const providerUsage = sqliteTable(
  'provider_usage',
  {
    provider: text('provider').notNull(),
    day: text('day').notNull(),
    model: text('model').notNull(),
    scopeId: text('scope_id').notNull(),
    apiKeyId: text('api_key_id').notNull(),
    input: integer('input').notNull(),
    output: integer('output').notNull(),
    cacheRead: integer('cache_read').notNull(),
    cacheWrite: integer('cache_write').notNull(),
    requests: integer('requests').notNull(),
  },
  (t) => [primaryKey({ columns: [t.provider, t.day, t.model, t.scopeId, t.apiKeyId] })],
);

/** Billed amounts per UTC day × model × workspace/project × line item. */
export const providerCost = sqliteTable(
  'provider_cost',
  {
    provider: text('provider').notNull(),
    day: text('day').notNull(),
    model: text('model').notNull(),
    scopeId: text('scope_id').notNull(),
    lineItem: text('line_item').notNull(),
    micros: integer('micros').notNull(),
  },
  (t) => [primaryKey({ columns: [t.provider, t.day, t.model, t.scopeId, t.lineItem] })],
);

/** Last poll outcome per provider: `ok` or `degraded` with the reason shown in reports and /readyz. */
export const providerStatus = sqliteTable('provider_status', {
  provider: text('provider').primaryKey(),
  state: text('state').notNull(),
  reason: text('reason'),
  code: text('code'),
  lastAttemptAt: integer('last_attempt_at'),
  lastSuccessAt: integer('last_success_at'),
});

/** The latest totals of one assistant message: a repeated message.completed replaces, never adds. */
export const messageSpend = sqliteTable(
  'message_spend',
  {
    session: text('session').notNull(),
    messageId: text('message_id').notNull(),
    node: text('node').notNull(),
    project: text('project').notNull(),
    provider: text('provider').notNull(),
    model: text('model').notNull(),
    day: text('day').notNull(),
    atMs: integer('at_ms').notNull(),
    input: integer('input').notNull(),
    output: integer('output').notNull(),
    reasoning: integer('reasoning').notNull(),
    cacheRead: integer('cache_read').notNull(),
    cacheWrite: integer('cache_write').notNull(),
    micros: integer('micros').notNull(),
    /** 1 when the cost came from `cost.model_rates` because opencode reported none. */
    estimated: integer('estimated').notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.session, t.messageId] }),
    index('message_spend_day').on(t.day),
    index('message_spend_at').on(t.atMs),
  ],
);

/** Position of the durable consumer, written in the same transaction as the rows it produced. */
export const consumerState = sqliteTable('consumer_state', {
  name: text('name').primaryKey(),
  appliedSeq: integer('applied_seq').notNull(),
});

/**
 * No longer written: which budget events were published is claimed in KV HAL_COST_ALERTS, shared by
 * every instance. Kept so that existing databases migrate unchanged.
 */
export const budgetAlerts = sqliteTable(
  'budget_alerts',
  {
    budget: text('budget').notNull(),
    /** The session for session budgets, '' otherwise. */
    subject: text('subject').notNull(),
    periodKey: text('period_key').notNull(),
    kind: text('kind').notNull(),
    publishedAt: integer('published_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.budget, t.subject, t.periodKey, t.kind] })],
);
