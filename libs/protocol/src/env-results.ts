import { z } from 'zod';
import { ENV_LIMITS, projectEnvSpecSchema } from './env-manifest.ts';

/** The check categories; an item id is `<category>:<name>` (`runtime:java`, `git:hooks/pre-commit`). */
export const EnvCategory = {
  RUNTIME: 'runtime',
  TOOL: 'tool',
  ENV: 'env',
  AGENT_MD: 'agent_md',
  CONTEXT: 'context',
  GIT: 'git',
  DOC: 'doc',
} as const;
export type EnvCategory = (typeof EnvCategory)[keyof typeof EnvCategory];
export const envCategorySchema = z.enum(Object.values(EnvCategory) as [EnvCategory, ...EnvCategory[]]);

/** `ready`: every required item passes; `missing`: a required item fails; `degraded`: only warnings. */
export const EnvStatus = { READY: 'ready', DEGRADED: 'degraded', MISSING: 'missing' } as const;
export type EnvStatus = (typeof EnvStatus)[keyof typeof EnvStatus];

export const ItemStatus = { PASS: 'pass', FAIL: 'fail', WARN: 'warn' } as const;
export type ItemStatus = (typeof ItemStatus)[keyof typeof ItemStatus];

/**
 * How an item can be fixed. `safe`: the provisioner does it (files in the project, env file).
 * `risky`: installs or changes the host — proposed with its exact command, run only after an
 * approval. `manual`: only a person can (a file they changed, a value nobody configured).
 */
export const FixKind = { SAFE: 'safe', RISKY: 'risky', MANUAL: 'manual' } as const;
export type FixKind = (typeof FixKind)[keyof typeof FixKind];

const text = (max = 4096) => z.string().max(max);

export const envFixSchema = z.object({
  kind: z.enum(['safe', 'risky', 'manual']),
  /** What the fix does, in words. */
  action: text(),
  /** The exact command (argv) a risky fix runs, or a manual one suggests. */
  command: z.array(text()).max(64).optional(),
});
export type EnvFix = z.infer<typeof envFixSchema>;

export const envItemSchema = z.object({
  id: text(300),
  category: envCategorySchema,
  name: text(256),
  expected: text(),
  actual: text(),
  status: z.enum(['pass', 'fail', 'warn']),
  /** Set when the item does not pass. */
  fix: envFixSchema.optional(),
});
export type EnvItem = z.infer<typeof envItemSchema>;

export const DriftType = { MISSING: 'missing', OUTDATED: 'outdated', MODIFIED: 'modified' } as const;
export type DriftType = (typeof DriftType)[keyof typeof DriftType];

/**
 * A managed file that is not what the control plane wants. `outdated`: the agent wrote it and
 * the template changed since; `modified`: a person changed it (never overwritten, `diff` shows
 * how it differs from the rendered template).
 */
export const envDriftSchema = z.object({
  file: text(1024),
  type: z.enum(['missing', 'outdated', 'modified']),
  detail: text(),
  /** Unified diff, rendered template (`---`) → local file (`+++`); clipped to ENV_LIMITS.diffChars. */
  diff: text(ENV_LIMITS.diffChars + 200).optional(),
});
export type EnvDrift = z.infer<typeof envDriftSchema>;

export const envResultSchema = z.object({
  node: text(256),
  project: text(256),
  directory: text(),
  status: z.enum(['ready', 'degraded', 'missing']),
  checked_at: z.string(),
  /** Manifest revision the check was made against. */
  revision: z.number().int().nonnegative(),
  items: z.array(envItemSchema).max(ENV_LIMITS.items),
  drift: z.array(envDriftSchema).max(ENV_LIMITS.items),
});
export type EnvResult = z.infer<typeof envResultSchema>;

export const envAppliedSchema = z.object({ id: text(300), action: text() });
export const envPendingSchema = z.object({
  id: text(300),
  kind: z.enum(['risky', 'manual']),
  action: text(),
  command: z.array(text()).max(64).optional(),
});

/** What one provision did (or, with dry_run, would do) on one project. */
export const envProvisionResultSchema = z.object({
  node: text(256),
  project: text(256),
  dry_run: z.boolean(),
  /** Safe fixes done (or planned, on a dry run). */
  applied: z.array(envAppliedSchema),
  /** Fixes waiting for a person: risky ones for an approval, manual ones for hands. */
  pending: z.array(envPendingSchema),
  /** Files a person changed, left alone, with how they differ. */
  kept: z.array(envDriftSchema),
  /** The check after the fixes (before them on a dry run). */
  result: envResultSchema,
});
export type EnvProvisionResult = z.infer<typeof envProvisionResultSchema>;

/** What an approval did: ran the command through the privileged helper, or showed it. */
export const envApproveResultSchema = z.object({
  node: text(256),
  project: text(256),
  item: text(300),
  command: z.array(text()),
  /** false: no privileged helper is configured on the node; a person runs `command`, then checks again. */
  ran: z.boolean(),
  exit_code: z.number().int().nullable(),
  /** Last lines of the command's output. */
  output: text(ENV_LIMITS.diffChars),
  /** The item after the fix (a fresh check). */
  after: envItemSchema,
});
export type EnvApproveResult = z.infer<typeof envApproveResultSchema>;

// ---- commands (over hal.cmd.<node>) ---------------------------------------------------------

const specs = z.array(projectEnvSpecSchema).max(ENV_LIMITS.projects);

/** Check the node's projects against their specs (only projects the node serves are checked). */
export const envCheckCommandSchema = z
  .object({ type: z.literal('env_check'), specs, project: text(256).optional() })
  .strict();
/** Apply the safe fixes; `only` limits them to some categories (`agent-md sync` = `["agent_md"]`). */
export const envProvisionCommandSchema = z
  .object({
    type: z.literal('env_provision'),
    specs,
    project: text(256).optional(),
    dry_run: z.boolean().default(false),
    only: z.array(envCategorySchema).max(10).optional(),
  })
  .strict();
/** Run the risky fix of one item, which must still fail. */
export const envApproveCommandSchema = z
  .object({ type: z.literal('env_approve'), spec: projectEnvSpecSchema, item: text(300) })
  .strict();

// ---- event data ----------------------------------------------------------------------------

/** `env.provision.manual_required`: what waits for a person, with the exact commands. */
export const envManualRequiredDataSchema = z.object({
  pending: z.array(envPendingSchema),
  kept: z.array(envDriftSchema),
  revision: z.number().int().nonnegative(),
});
/** `env.milestone`: a `- [x] milestone: <name>` line appeared in `.context/PROGRESS.md`. */
export const envMilestoneDataSchema = z.object({ milestone: text(256), file: text(1024) });
