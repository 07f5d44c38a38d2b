import { createHash } from 'node:crypto';
import { z } from 'zod';
import { ErrorCode, HalError } from './errors.ts';
import { isVersionRange } from './version-range.ts';

/**
 * The environment manifest (spec §8): what a host needs so agents can work on a project —
 * runtimes, tools, env vars, the AGENT.md rendered from a central template, the `.context/`
 * files, git remote/branch/hooks and docs. The control plane keeps ONE document (all projects,
 * templates, hook scripts and doc files) in the `HAL_ENV` KV bucket; each revision is a version.
 * Agents never see the document: they get each project's resolved `ProjectEnvSpec`, with every
 * file already rendered, so the control plane is the only renderer and a hash means one thing.
 */

/** KV bucket of the manifest document; `history` keeps earlier revisions. */
export const ENV_KV_BUCKET = 'HAL_ENV';
export const ENV_MANIFEST_KEY = 'manifest';
export const ENV_KV_HISTORY = 16;

export const ENV_LIMITS = {
  /** The whole document as JSON: it travels inside commands (1 MiB frames) and one KV value. */
  documentBytes: 512 * 1024,
  /** One template, hook or doc file. */
  fileChars: 128 * 1024,
  projects: 200,
  /** A diff or file excerpt carried in a result or an event. */
  diffChars: 16 * 1024,
  /** Items of one result (a project with more is refused by the checker). */
  items: 300,
} as const;

/** The `.context/` files every project keeps for hand-offs (spec §7.2). */
export const CONTEXT_FILES = ['PROGRESS.md', 'CURRENT_TASK.md', 'DECISIONS.md'] as const;

/** Variables every AGENT.md template may use, besides the project's own `variables`. */
export const BUILTIN_TEMPLATE_VARIABLES = [
  'project_name',
  'excluded_projects',
  'context_dir',
  'interface_docs',
  'required_docs',
] as const;

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.+-]*$/;
const name = (what: string) =>
  z.string().min(1).max(64).regex(NAME, `must be a ${what} name: letters, digits, ".", "_", "+" or "-"`);
const projectName = z
  .string()
  .min(1)
  .max(256)
  .regex(/^[A-Za-z0-9_.-]+$/, 'must be a project name: letters, digits, ".", "_" or "-"');
const envName = z
  .string()
  .max(128)
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name like JAVA_HOME');
const hookName = z
  .string()
  .max(64)
  .regex(/^[a-z][a-z-]*$/, 'must be a git hook name like "pre-commit"');
const varName = z
  .string()
  .max(64)
  .regex(/^[a-z][a-z0-9_]*$/, 'must be a template variable name like "team" (lowercase, digits, "_")');

/**
 * A path inside the project directory. The agent writes there, so nothing may lead out of it:
 * no absolute path, no `..`, no `.git/` (hooks have their own key), no control characters.
 */
export function projectPathProblem(path: string): string | undefined {
  if (path.startsWith('/') || path.startsWith('\\') || /^[A-Za-z]:/.test(path)) return 'must be relative';
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing them is the point
  if (/[\u0000-\u001f\\]/.test(path)) return 'must not hold control characters or backslashes';
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.length === 0) return 'must name a file';
  if (parts.some((p) => p === '..')) return 'must not contain ".."';
  if (parts[0] === '.git') return 'must not point into .git/ (use git.hooks for hooks)';
  return undefined;
}

const relPath = z
  .string()
  .min(1)
  .max(512)
  .superRefine((p, ctx) => {
    const problem = projectPathProblem(p);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: `path "${p}" ${problem}` });
  });
const range = z
  .string()
  .max(64)
  .refine(isVersionRange, 'must be a version range like ">=17", "^20.11", "=3.12" or "*"');
/** A command as argv (no shell): what the privileged helper runs after an approval. */
const argv = z.array(z.string().min(1).max(4096)).min(1).max(64);

const runtimeSpec = z.union([
  range,
  z.strictObject({
    version: range,
    /** The program to run with `--version`; default: the runtime's name. */
    binary: name('program').optional(),
    /** Installs it (risky: run only after approval, through the privileged helper). */
    install: argv.optional(),
  }),
]);
const toolSpec = z.union([
  range,
  z.strictObject({ version: range.optional(), binary: name('program').optional(), install: argv.optional() }),
]);

export const projectManifestSchema = z.strictObject({
  runtime: z.record(name('runtime'), runtimeSpec).optional(),
  /** `["protoc", "cmake"]`, or `{name: range | {version, binary, install}}`. */
  tools: z.union([z.array(name('tool')).max(100), z.record(name('tool'), toolSpec)]).optional(),
  /** name → expected value, or `"required"` (any value). A value starting with `/` must exist as a path. */
  env_vars: z.record(envName, z.string().max(4096)).optional(),
  agent_config: z
    .strictObject({
      /** Name of a template in `templates`; absent: no AGENT.md check. */
      template: name('template').optional(),
      /** Where the rendered template goes. */
      file: relPath.optional(),
      context_dir: relPath.optional(),
      /** Interface docs the agent must read (checked like required docs). */
      required_docs: z.array(relPath).max(100).optional(),
    })
    .optional(),
  git: z
    .strictObject({
      remote: z.string().min(1).max(1024).optional(),
      branch: z.string().min(1).max(256).optional(),
      /** Hook names; their scripts come from the document's `hooks`. */
      hooks: z.array(hookName).max(20).optional(),
    })
    .optional(),
  docs: z
    .strictObject({
      required: z.array(relPath).max(100).optional(),
      recommended: z.array(relPath).max(100).optional(),
    })
    .optional(),
  /** Template variables of this project (`{{team}}`). */
  variables: z.record(varName, z.string().max(4096)).optional(),
});
export type ProjectManifest = z.infer<typeof projectManifestSchema>;

const fileContent = z.string().max(ENV_LIMITS.fileChars);

export const envManifestDocumentSchema = z
  .strictObject({
    /** Applied under every project (a project's own keys win, per key). */
    defaults: projectManifestSchema.optional(),
    projects: z.record(projectName, projectManifestSchema).default({}),
    /** AGENT.md templates with `{{variables}}`. */
    templates: z.record(name('template'), fileContent).default({}),
    /** Git hook scripts by hook name. */
    hooks: z.record(hookName, fileContent).default({}),
    /** Contents of docs the provisioner may copy into a project (path → text). */
    files: z.record(relPath, fileContent).default({}),
  })
  .superRefine((doc, ctx) => {
    if (Object.keys(doc.projects).length > ENV_LIMITS.projects) {
      ctx.addIssue({
        code: 'custom',
        path: ['projects'],
        message: `at most ${ENV_LIMITS.projects} projects`,
      });
    }
    const check = (
      m: ProjectManifest | undefined,
      base: (string | number)[],
      project: string | undefined,
    ) => {
      if (m === undefined) return;
      const template = m.agent_config?.template;
      if (template !== undefined && !Object.hasOwn(doc.templates, template)) {
        ctx.addIssue({
          code: 'custom',
          path: [...base, 'agent_config', 'template'],
          message: `unknown template "${template}": templates has ${Object.keys(doc.templates).join(', ') || 'none'}`,
        });
      }
      (m.git?.hooks ?? []).forEach((hook, i) => {
        if (!Object.hasOwn(doc.hooks, hook)) {
          ctx.addIssue({
            code: 'custom',
            path: [...base, 'git', 'hooks', i],
            message: `hook "${hook}" has no script in hooks`,
          });
        }
      });
      if (project === undefined) return;
      const resolved = mergeManifest(doc.defaults, m);
      const tpl = resolved.agent_config?.template;
      if (tpl === undefined || !Object.hasOwn(doc.templates, tpl)) return;
      const known = new Set<string>([
        ...BUILTIN_TEMPLATE_VARIABLES,
        ...Object.keys(resolved.variables ?? {}),
      ]);
      for (const v of templateVariables(doc.templates[tpl]!)) {
        if (!known.has(v)) {
          ctx.addIssue({
            code: 'custom',
            path: ['templates', tpl],
            message: `template uses {{${v}}}, which project "${project}" does not define (add it to projects.${project}.variables)`,
          });
        }
      }
    };
    check(doc.defaults, ['defaults'], undefined);
    for (const [p, m] of Object.entries(doc.projects)) check(m, ['projects', p], p);
  });
export type EnvManifestDocument = z.output<typeof envManifestDocumentSchema>;

/** The stored document and its KV revision (the manifest's version). */
export const envManifestViewSchema = z.object({
  revision: z.number().int().nonnegative(),
  updated_at: z.string().nullable(),
  document: envManifestDocumentSchema,
});
export type EnvManifestView = z.infer<typeof envManifestViewSchema>;

// ---- resolution: document → what one project needs ---------------------------------------

const installedSpec = z.object({
  name: z.string(),
  binary: z.string(),
  /** Absent for a tool that only has to exist. */
  version: z.string().optional(),
  install: z.array(z.string()).optional(),
});

const renderedFile = z.object({
  /** Relative to the project directory. */
  path: z.string(),
  content: z.string(),
  sha256: z.string(),
});

/** One project's requirements as an agent receives them: nothing left to look up or render. */
export const projectEnvSpecSchema = z.object({
  project: z.string(),
  revision: z.number().int().nonnegative(),
  runtime: z.array(installedSpec),
  tools: z.array(installedSpec),
  env_vars: z.array(z.object({ name: z.string(), value: z.string().optional() })),
  agent_md: renderedFile.optional(),
  context_dir: z.string(),
  git: z.object({ remote: z.string().optional(), branch: z.string().optional() }),
  hooks: z.array(z.object({ name: z.string(), content: z.string(), sha256: z.string() })),
  docs: z.array(
    z.object({
      path: z.string(),
      /** false for `docs.recommended`: a missing one is a warning. */
      required: z.boolean(),
      /** The text to copy when the doc is missing; absent: only a person can write it. */
      content: z.string().optional(),
    }),
  ),
});
export type ProjectEnvSpec = z.infer<typeof projectEnvSpecSchema>;

export function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** `{{name}}` occurrences of a template, each once. */
export function templateVariables(template: string): string[] {
  const out = new Set<string>();
  for (const m of template.matchAll(/\{\{\s*([A-Za-z0-9_]+)\s*\}\}/g)) out.add(m[1]!);
  return [...out];
}

/** Replaces `{{name}}`; an unknown name is an error (validation refuses such documents first). */
export function renderTemplate(template: string, variables: Readonly<Record<string, string>>): string {
  return template.replace(/\{\{\s*([A-Za-z0-9_]+)\s*\}\}/g, (_m, v: string) => {
    if (!Object.hasOwn(variables, v)) {
      throw new HalError(ErrorCode.VALIDATION_FAILED, `template variable {{${v}}} is not defined`);
    }
    return variables[v]!;
  });
}

function mergeManifest(base: ProjectManifest | undefined, own: ProjectManifest): ProjectManifest {
  if (base === undefined) return own;
  const obj = <T extends object>(a: T | undefined, b: T | undefined): T | undefined =>
    a === undefined && b === undefined ? undefined : ({ ...a, ...b } as T);
  // Two lists of tools add up; otherwise the project's own form wins.
  const tools =
    Array.isArray(base.tools) && Array.isArray(own.tools)
      ? [...new Set([...base.tools, ...own.tools])]
      : !Array.isArray(base.tools) && !Array.isArray(own.tools)
        ? obj(base.tools, own.tools)
        : (own.tools ?? base.tools);
  return {
    runtime: obj(base.runtime, own.runtime),
    tools,
    env_vars: obj(base.env_vars, own.env_vars),
    agent_config: obj(base.agent_config, own.agent_config),
    git: obj(base.git, own.git),
    docs: obj(base.docs, own.docs),
    variables: obj(base.variables, own.variables),
  };
}

function normalisePath(p: string): string {
  return p
    .split('/')
    .filter((s) => s !== '' && s !== '.')
    .join('/');
}

/** `undefined` when the document has no entry for the project. */
export function resolveProjectEnv(
  view: { revision: number; document: EnvManifestDocument },
  project: string,
): ProjectEnvSpec | undefined {
  const doc = view.document;
  const own = doc.projects[project];
  if (own === undefined) return undefined;
  const m = mergeManifest(doc.defaults, own);
  const contextDir = `${normalisePath(m.agent_config?.context_dir ?? '.context')}/`;
  const requiredDocs = (m.agent_config?.required_docs ?? []).map(normalisePath);
  const spec: ProjectEnvSpec = {
    project,
    revision: view.revision,
    runtime: Object.entries(m.runtime ?? {}).map(([n, s]) =>
      typeof s === 'string'
        ? { name: n, binary: n, version: s }
        : {
            name: n,
            binary: s.binary ?? n,
            version: s.version,
            ...(s.install ? { install: s.install } : {}),
          },
    ),
    tools: Array.isArray(m.tools)
      ? m.tools.map((n) => ({ name: n, binary: n }))
      : Object.entries(m.tools ?? {}).map(([n, s]) =>
          typeof s === 'string'
            ? { name: n, binary: n, version: s }
            : {
                name: n,
                binary: s.binary ?? n,
                ...(s.version ? { version: s.version } : {}),
                ...(s.install ? { install: s.install } : {}),
              },
        ),
    env_vars: Object.entries(m.env_vars ?? {}).map(([n, v]) =>
      v === 'required' ? { name: n } : { name: n, value: v },
    ),
    context_dir: contextDir,
    git: {
      ...(m.git?.remote ? { remote: m.git.remote } : {}),
      ...(m.git?.branch ? { branch: m.git.branch } : {}),
    },
    hooks: (m.git?.hooks ?? []).flatMap((h) => {
      const content = doc.hooks[h];
      return content === undefined ? [] : [{ name: h, content, sha256: sha256(content) }];
    }),
    docs: [],
  };
  const docs = new Map<string, boolean>();
  for (const p of [...requiredDocs, ...(m.docs?.required ?? []).map(normalisePath)]) docs.set(p, true);
  for (const p of (m.docs?.recommended ?? []).map(normalisePath)) if (!docs.has(p)) docs.set(p, false);
  const files = new Map(Object.entries(doc.files).map(([p, c]) => [normalisePath(p), c]));
  spec.docs = [...docs].map(([path, required]) => {
    const content = files.get(path);
    return { path, required, ...(content === undefined ? {} : { content }) };
  });
  const template = m.agent_config?.template;
  if (template !== undefined && doc.templates[template] !== undefined) {
    const variables: Record<string, string> = {
      project_name: project,
      excluded_projects: Object.keys(doc.projects)
        .filter((p) => p !== project)
        .sort()
        .join(', '),
      context_dir: contextDir,
      interface_docs: requiredDocs.length === 0 ? '(none)' : requiredDocs.map((d) => `- ${d}`).join('\n'),
      required_docs: requiredDocs.join(', '),
      ...m.variables,
    };
    const content = renderTemplate(doc.templates[template], variables);
    spec.agent_md = {
      path: normalisePath(m.agent_config?.file ?? 'AGENT.md'),
      content,
      sha256: sha256(content),
    };
  }
  return spec;
}
