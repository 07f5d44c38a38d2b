import { hostname } from 'node:os';
import { fitsSubjectToken, isReservedNodeName, LIMITS } from '@hal/protocol';
import { z } from 'zod';
import { logLevelSchema, secretSchema } from './log-level.ts';
import { tokenSchema } from './security.ts';

/** Half of a surrogate pair without its other half: not text, and not encodable as UTF-8. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Project names come from people and are often not ASCII (`한국어-프로젝트`). Subjects carry them
 * escaped (`escapeToken` in @hal/protocol), so any text is safe there; refused is only what could
 * not be shown or escaped back: control characters, broken UTF-16, blank edges, and very long names
 * (each byte outside [A-Za-z0-9_-] takes 3 in a subject once escaped).
 */
export const projectNameSchema = z
  .string()
  .min(1)
  .max(128)
  .refine((n) => !LONE_SURROGATE.test(n), 'must be valid Unicode text (it holds half of a surrogate pair)')
  .refine((n) => !/\p{Cc}/u.test(n), 'must not hold control characters (newlines, tabs, …)')
  .refine((n) => n.trim() === n, 'must not start or end with white space')
  .refine(
    fitsSubjectToken,
    `is too long once escaped for a NATS subject (at most ${LIMITS.idTokenBytes} bytes)`,
  );

const gatewayUrlSchema = z.string().regex(/^wss?:\/\/[^\s]+$/, 'must be a ws:// or wss:// URL');

export const agentProjectSchema = z.strictObject({
  name: projectNameSchema,
  directory: z.string().min(1),
});

const agentShape = z.strictObject({
  node_id: z
    .string()
    .min(1)
    .max(LIMITS.idChars)
    .refine(
      fitsSubjectToken,
      `is too long once escaped for a NATS subject (at most ${LIMITS.idTokenBytes} bytes)`,
    )
    .refine((n) => !isReservedNodeName(n), 'is reserved for the control plane: the gateway refuses it')
    .default(() => hostname()),
  /**
   * The gateway, or several gateways tried in turn (each after the previous one's connection ends
   * or fails), or one load balancer URL in front of them. One string stays the usual form.
   */
  supervisor_url: z
    .union([gatewayUrlSchema, z.array(gatewayUrlSchema)])
    // Checked after the union: inside it a failed list check would read "Invalid input".
    .superRefine((urls, ctx) => {
      if (!Array.isArray(urls)) return;
      const problem =
        urls.length === 0
          ? 'lists no gateway URL: give one URL or at least one in the list'
          : urls.length > 16
            ? 'lists more than 16 gateway URLs'
            : new Set(urls).size !== urls.length
              ? 'lists a gateway URL twice'
              : undefined;
      if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
    })
    .default('ws://127.0.0.1:8420'),
  auth_token: tokenSchema,
  opencode_port: z.number().int().min(1).max(65535).default(4096),
  opencode: z
    .strictObject({
      /** Default: http://127.0.0.1:<opencode_port>. */
      url: z.url({ protocol: /^https?$/ }).optional(),
      /** true: the agent starts `opencode serve` itself and restarts it when it dies. */
      manage: z.boolean().default(false),
      binary: z.string().min(1).default('opencode'),
      password: secretSchema.optional(),
    })
    .prefault({}),
  projects: z
    .array(agentProjectSchema)
    .min(1, 'needs at least one project: the agent has nothing to watch without one')
    .superRefine((projects, ctx) => {
      const seen = new Set<string>();
      projects.forEach((p, i) => {
        if (seen.has(p.name)) {
          ctx.addIssue({
            code: 'custom',
            path: [i, 'name'],
            message: `duplicate project name "${p.name}": events of the two could not be told apart`,
          });
        }
        seen.add(p.name);
      });
    }),
  data_dir: z.string().min(1).default('./.hal/agent'),
  heartbeat_interval_sec: z.number().int().positive().default(30),
  spool: z
    .strictObject({
      max_bytes: z
        .number()
        .int()
        .positive()
        .default(256 * 1024 * 1024),
    })
    .prefault({}),
  reconnect: z
    .strictObject({
      initial_ms: z.number().int().positive().default(500),
      max_ms: z.number().int().positive().default(30_000),
    })
    .prefault({})
    .refine((r) => r.max_ms >= r.initial_ms, {
      message: 'max_ms must be at least initial_ms: the backoff could never grow',
      path: ['max_ms'],
    }),
  command_timeout_ms: z.number().int().positive().default(60_000),
  /** Environment manifests: how this host checks and fixes its project directories. */
  env: z
    .strictObject({
      /**
       * argv prefix that runs an approved risky fix (an install) with the rights it needs, e.g.
       * ["sudo", "-n"] with a sudoers rule naming the exact command. Absent: an approval only
       * shows the command to a person.
       */
      privileged_helper: z.array(z.string().min(1)).min(1).optional(),
      /** opencode's environment file (systemd EnvironmentFile=): where env var fixes are written. */
      opencode_env_file: z.string().min(1).optional(),
      probe_timeout_ms: z.number().int().positive().default(10_000),
      install_timeout_ms: z.number().int().positive().default(600_000),
      /** How often .context/PROGRESS.md is looked at for new milestones; 0 turns it off. */
      progress_poll_ms: z.number().int().nonnegative().default(2_000),
    })
    .prefault({}),
  log_level: logLevelSchema,
});

/** The agent config, with `opencode.url` filled in from `opencode_port` when absent. */
export const agentConfigSchema = agentShape.transform((c) => ({
  ...c,
  opencode: { ...c.opencode, url: c.opencode.url ?? `http://127.0.0.1:${c.opencode_port}` },
}));

export type AgentConfig = z.output<typeof agentConfigSchema>;
