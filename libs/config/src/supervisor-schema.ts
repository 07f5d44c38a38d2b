import { z } from 'zod';
import { costConfigSchema } from './cost.ts';
import { dependenciesSchema } from './dependencies.ts';
import { logLevelSchema, secretSchema } from './log-level.ts';
import { policiesSchema, routesSchema, webhooksSchema } from './policies.ts';
import { securityConfigSchema, tokenSchema } from './security.ts';

const port = (value: number) => z.number().int().min(0).max(65535).default(value);
const host = z.string().min(1).default('127.0.0.1');

/** The credential keys of `nats`: at most one way, and only for a NATS of nats.url. */
const NATS_CREDENTIALS = ['token', 'user', 'password', 'creds', 'nkey_seed'] as const;

export const natsConfigSchema = z
  .strictObject({
    /** Absent: the supervisor starts its own nats-server, bound to 127.0.0.1, with its own users. */
    url: z
      .string()
      .regex(/^(nats|tls|ws|wss):\/\/[^\s]+$/, 'must be a URL like nats://host:4222')
      .optional(),
    /** Credentials for nats.url — one of: token; user + password; creds; nkey_seed. */
    token: secretSchema.optional(),
    user: z.string().min(1).optional(),
    password: secretSchema.optional(),
    /** The content of a NATS `.creds` file; write `creds_file: "/path/to/user.creds"`. */
    creds: secretSchema.optional(),
    /** An nkey seed (`SU…`); write `nkey_seed_file: "/path/to/user.nk"`. */
    nkey_seed: secretSchema.optional(),
    /** Port of the embedded nats-server; taken by something else → a free port is used. 0 = any free port. */
    embedded_port: port(4222),
    /**
     * Replicas of every stream and KV bucket HAL creates: 3 on a 3-node JetStream cluster, 1 on a
     * single server. Raised on existing ones at start, never lowered (one set higher by hand stays).
     */
    replicas: z.number().int().min(1).max(5).default(1),
    /**
     * How long HAL_EVENTS and the other streams remember an event id to drop a resend. nats-server
     * keeps every id of the window in memory (~150 bytes each: 2 min at 1,000 events/s ≈ 20 MB);
     * past it a resend is stored again and the tracker, policy and cost count it once by its id.
     */
    duplicate_window_sec: z.number().int().min(10).max(86_400).default(120),
    /**
     * The embedded nats-server's Go memory limit (GOMEMLIMIT), in MiB: its collector works
     * harder as the heap nears it instead of letting it reach twice the live set, and returns
     * freed memory sooner. A soft limit — a live set above it is still served — so size it well
     * above the expected use (docs/DEPLOYMENT.md: 140–172 MiB measured at 1,000 events/s).
     */
    embedded_memory_limit_mib: z.number().int().min(64).default(1024),
  })
  .superRefine((nats, ctx) => {
    if (nats.user !== undefined && nats.password === undefined) {
      ctx.addIssue({ code: 'custom', path: ['password'], message: 'is required with nats.user' });
    }
    if (nats.password !== undefined && nats.user === undefined) {
      ctx.addIssue({ code: 'custom', path: ['user'], message: 'is required with nats.password' });
    }
    const ways = [
      nats.token !== undefined && 'token',
      (nats.user !== undefined || nats.password !== undefined) && 'user/password',
      nats.creds !== undefined && 'creds',
      nats.nkey_seed !== undefined && 'nkey_seed',
    ].filter(Boolean);
    if (ways.length > 1) {
      ctx.addIssue({
        code: 'custom',
        path: [],
        message: `choose one way to authenticate to NATS, not ${ways.join(' and ')}`,
      });
    }
    // The embedded server has one generated user per service (data_dir/nats-credentials.json);
    // a token there is only warned about at start, as earlier releases accepted it.
    if (nats.url === undefined) {
      for (const key of NATS_CREDENTIALS) {
        if (key !== 'token' && nats[key] !== undefined) {
          ctx.addIssue({
            code: 'custom',
            path: [key],
            message: 'applies only with nats.url: the embedded nats-server makes its own users',
          });
        }
      }
    }
  })
  .prefault({});

export const serverConfigSchema = z
  .strictObject({
    host,
    port: port(8420),
    http_host: host,
    http_port: port(8421),
    auth_token: tokenSchema,
    metrics_public: z.boolean().default(false),
    /** The web dashboard at `/` of http_port (static files; every API call still needs a token). */
    dashboard: z.boolean().default(true),
    max_body_bytes: z
      .number()
      .int()
      .positive()
      .default(1024 * 1024),
  })
  // Prefault even though auth_token is required: a missing `server` section is then reported
  // as the missing `server.auth_token`, the one key the person must actually write.
  .prefault({} as { auth_token: string });

/** Discord ids are snowflakes: a 64-bit number written in decimal (17 to 20 digits today). */
const snowflake = (what: string) =>
  z.string().regex(/^[1-9]\d{16,19}$/, `must be a Discord ${what} id (a snowflake: 17 to 20 digits)`);
/** One role id or a list of them; every member holding any of them has the role's rights. */
const roleIds = z
  .union([snowflake('role'), z.array(snowflake('role'))])
  .transform((v) => (Array.isArray(v) ? v : [v]))
  .default([]);

export const discordConfigSchema = z.strictObject({
  bot_token: secretSchema,
  guild_id: snowflake('guild'),
  /** route (`alerts`, `dev-log`, …) → channel id: where `discord#<route>` notifications are posted. */
  channels: z.record(z.string().regex(/^[A-Za-z0-9_-]+$/), snowflake('channel')).default({}),
  /**
   * Discord role ids → HAL roles. Viewers read, operators act on sessions, admins change policies
   * and budgets. A member with none of them is refused everything.
   */
  roles: z.strictObject({ viewer: roleIds, operator: roleIds, admin: roleIds }).prefault({}),
  /** project → channel id: each new session of the project gets a thread there (opt-in). */
  project_channels: z.record(z.string().min(1).max(256), snowflake('channel')).default({}),
  /** A cost report for yesterday, posted once a day at `hour_utc`. Absent: no report. */
  daily_report: z
    .strictObject({ channel: snowflake('channel'), hour_utc: z.number().int().min(0).max(23).default(8) })
    .optional(),
  /**
   * Discord's REST base; the gateway URL then comes from its `/gateway/bot`. Point it at a
   * rate-limit proxy (nirn-proxy) shared by several bots, or at a fake Discord in tests.
   */
  api_url: z.url({ protocol: /^https?$/ }).default('https://discord.com/api'),
});

/**
 * How a service runs as several instances (issue 13): leader leases and per-instance consumers.
 * The lease's time is the NATS server's (the KV bucket's TTL), never a host clock.
 */
export const instancesConfigSchema = z
  .strictObject({
    /**
     * Lease of the leader of policy, cost-poller and discord-bridge (one KV bucket, its TTL): a
     * leader that dies is replaced within about this long. Applied when the bucket is created;
     * an existing bucket keeps its TTL and every holder uses the bucket's.
     */
    lease_ttl_sec: z.number().min(1).max(120).default(5),
    /**
     * A per-instance durable consumer (tracker, cost-poller) unused this long is removed by
     * nats-server, so a gone instance leaves no orphan. Its position lives in the instance's
     * database, so one removed while the instance was down is re-created where it left off.
     */
    consumer_inactive_sec: z
      .number()
      .int()
      .min(60)
      .max(30 * 86_400)
      .default(3_600),
  })
  .prefault({});

/** An instance id names durable consumers (`hal-tracker-<id>`) and lease holders: one NATS token. */
export const instanceIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1-64 letters, digits, "-" or "_" (it names NATS consumers)');

export const supervisorConfigSchema = z.strictObject({
  data_dir: z.string().min(1).default('./.hal/data'),
  /**
   * This instance's stable id (a StatefulSet pod name: HAL_INSTANCE_ID from metadata.name).
   * Absent: generated once and kept in <data_dir>/instance-id, so it follows the database.
   */
  instance_id: instanceIdSchema.optional(),
  instances: instancesConfigSchema,
  nats: natsConfigSchema,
  server: serverConfigSchema,
  heartbeat_interval_sec: z.number().int().positive().default(30),
  heartbeat_timeout_count: z.number().int().positive().default(3),
  alerts: z
    .strictObject({
      /** A node's clock further than this from the control plane's raises `node.clock_skew` (once per crossing). */
      clock_skew_seconds: z.number().positive().default(30),
    })
    .prefault({}),
  channels: z
    .strictObject({
      discord: discordConfigSchema.optional(),
    })
    .prefault({}),
  cost: costConfigSchema,
  policies: policiesSchema,
  routes: routesSchema,
  webhooks: webhooksSchema,
  dependencies: dependenciesSchema,
  security: securityConfigSchema,
  log_level: logLevelSchema,
});

export type SupervisorConfig = z.output<typeof supervisorConfigSchema>;
export type NatsConfig = z.output<typeof natsConfigSchema>;
export type DiscordConfig = z.output<typeof discordConfigSchema>;
