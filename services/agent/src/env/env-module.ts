import type { Logger } from '@hal/observability';
import {
  type EnvApproveResult,
  type EnvCategory,
  type EnvProvisionResult,
  type EnvResult,
  ErrorCode,
  EventType,
  HalError,
  type ProjectEnvSpec,
} from '@hal/protocol';
import type { ProjectEvent, ProjectRef } from '../opencode-events.ts';
import type { CheckContext, Finding } from './checks/finding.ts';
import { checkProject, resultOf } from './env-checker.ts';
import { type EnvFile, openEnvFile } from './env-file.ts';
import { type EnvMemory, openEnvMemory } from './env-memory.ts';
import { createHostProbe, type HostProbe } from './host-probe.ts';
import { createMilestoneWatch, type MilestoneWatch } from './milestone-watch.ts';
import { runPrivileged } from './privileged-helper.ts';

/** The agent's `env` config keys. */
export interface EnvSettings {
  /** argv prefix that runs an approved risky fix with the rights it needs (`["sudo", "-n"]`). */
  privileged_helper?: readonly string[] | undefined;
  /** opencode's environment file, where env var fixes go. */
  opencode_env_file?: string | undefined;
  /** Longest a `--version` or git probe may take. */
  probe_timeout_ms: number;
  /** Longest an approved install may take. */
  install_timeout_ms: number;
  /** How often `.context/PROGRESS.md` is looked at for new milestones (0: never). */
  progress_poll_ms: number;
}

export interface EnvModuleDeps {
  node: string;
  projects: readonly ProjectRef[];
  dataDir: string;
  settings: EnvSettings;
  log: Logger;
  /** Spools events (the agent's single entry). */
  emit(events: ProjectEvent[]): void;
  /** The environment checks see: PATH for programs, env vars. Default: process.env. */
  env?: Readonly<Record<string, string | undefined>>;
  now?: () => Date;
}

export interface EnvModule {
  check(specs: readonly ProjectEnvSpec[], project?: string): Promise<{ results: EnvResult[] }>;
  provision(
    specs: readonly ProjectEnvSpec[],
    opts: { project?: string | undefined; dryRun: boolean; only?: readonly EnvCategory[] | undefined },
  ): Promise<{ results: EnvProvisionResult[] }>;
  approve(spec: ProjectEnvSpec, itemId: string): Promise<EnvApproveResult>;
  /** Upper bound of an approval, which may install packages: longer than other commands. */
  readonly approveTimeoutMs: number;
  start(): void;
  stop(): void;
}

/**
 * The host side of environment manifests: checks project directories against their specs,
 * applies safe fixes, runs an approved risky fix through the privileged helper, and reports
 * it all as `env.*` / `agentmd.updated` events. Specs come with each command, so the agent
 * never holds a stale manifest; what it keeps (`env-memory.json`) is what it wrote.
 */
export function createEnvModule(deps: EnvModuleDeps): EnvModule {
  const log = deps.log;
  const now = deps.now ?? (() => new Date());
  const probe: HostProbe = createHostProbe({
    env: deps.env ?? process.env,
    timeoutMs: deps.settings.probe_timeout_ms,
  });
  const memory: EnvMemory = openEnvMemory(deps.dataDir, log);
  const envFile: EnvFile | undefined =
    deps.settings.opencode_env_file === undefined ? undefined : openEnvFile(deps.settings.opencode_env_file);
  const ctx: CheckContext = { node: deps.node, probe, memory, envFile, now };
  let watch: MilestoneWatch | undefined;
  // One check or provision of a project at a time: two writers of one AGENT.md could interleave.
  const busy = new Map<string, Promise<unknown>>();

  function serial<T>(project: string, fn: () => Promise<T>): Promise<T> {
    const prev = busy.get(project) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    busy.set(
      project,
      next.catch(() => undefined),
    );
    return next;
  }

  /** The node's projects that have a spec, or PROJECT_NOT_FOUND for a named one it lacks. */
  function targets(
    specs: readonly ProjectEnvSpec[],
    project?: string,
  ): Array<{ ref: ProjectRef; spec: ProjectEnvSpec }> {
    if (project !== undefined && !deps.projects.some((p) => p.name === project)) {
      throw new HalError(ErrorCode.PROJECT_NOT_FOUND, `project "${project}" is not configured on this node`, {
        details: { project, known: deps.projects.map((p) => p.name) },
      });
    }
    const out: Array<{ ref: ProjectRef; spec: ProjectEnvSpec }> = [];
    for (const ref of deps.projects) {
      if (project !== undefined && ref.name !== project) continue;
      const spec = specs.find((s) => s.project === ref.name);
      if (spec !== undefined) out.push({ ref, spec });
    }
    if (project !== undefined && out.length === 0) {
      throw new HalError(
        ErrorCode.NOT_FOUND,
        `the environment manifest has no entry for project "${project}"`,
        {
          details: { project },
        },
      );
    }
    return out;
  }

  function event(project: string, type: string, data: object): ProjectEvent {
    return { project, session: null, type, data: data as Record<string, unknown>, refs: {} };
  }

  function report(result: EnvResult): ProjectEvent[] {
    const out = [
      event(
        result.project,
        result.status === 'ready' ? EventType.ENV_CHECK_PASS : EventType.ENV_CHECK_FAIL,
        result,
      ),
    ];
    if (result.drift.length > 0) {
      out.push(
        event(result.project, EventType.ENV_DRIFT_DETECTED, {
          revision: result.revision,
          drift: result.drift,
        }),
      );
    }
    return out;
  }

  async function checkOne(
    ref: ProjectRef,
    spec: ProjectEnvSpec,
  ): Promise<{ findings: Finding[]; result: EnvResult }> {
    memory.setContextDir(ref.name, spec.context_dir);
    const findings = await checkProject(spec, ref.directory, ctx);
    const result = resultOf(findings, {
      node: deps.node,
      project: ref.name,
      directory: ref.directory,
      revision: spec.revision,
      now: now(),
    });
    return { findings, result };
  }

  async function provisionOne(
    ref: ProjectRef,
    spec: ProjectEnvSpec,
    dryRun: boolean,
    only: readonly EnvCategory[] | undefined,
  ): Promise<{ out: EnvProvisionResult; events: ProjectEvent[] }> {
    const before = await checkOne(ref, spec);
    const inScope = (f: Finding) => only === undefined || only.includes(f.item.category);
    const applied: EnvProvisionResult['applied'] = [];
    const events: ProjectEvent[] = [];
    for (const f of before.findings) {
      if (f.apply === undefined || !inScope(f) || f.item.status === 'pass') continue;
      if (dryRun) {
        applied.push({ id: f.item.id, action: `would ${f.item.fix?.action ?? 'fix it'}` });
        continue;
      }
      try {
        applied.push({ id: f.item.id, action: await f.apply() });
        if (f.agentMd) {
          events.push(
            event(ref.name, EventType.AGENTMD_UPDATED, {
              file: f.agentMd.file,
              sha256: f.agentMd.sha256,
              previous_sha256: f.agentMd.previous,
              revision: spec.revision,
            }),
          );
        }
      } catch (err) {
        log.warn({ err, project: ref.name, item: f.item.id }, 'safe fix failed');
      }
    }
    const after = dryRun || applied.length === 0 ? before : await checkOne(ref, spec);
    const pending: EnvProvisionResult['pending'] = [];
    for (const f of after.findings) {
      if (f.item.status === 'pass' || !inScope(f)) continue;
      const fix = f.item.fix;
      if (fix === undefined || fix.kind === 'safe' || f.drift?.type === 'modified') continue;
      pending.push({
        id: f.item.id,
        kind: fix.kind,
        action: fix.action,
        ...(fix.command ? { command: fix.command } : {}),
      });
    }
    const kept = after.findings.flatMap((f) => (f.drift?.type === 'modified' && inScope(f) ? [f.drift] : []));
    const out: EnvProvisionResult = {
      node: deps.node,
      project: ref.name,
      dry_run: dryRun,
      applied,
      pending,
      kept,
      result: after.result,
    };
    if (dryRun) return { out, events: [] };
    events.push(...report(after.result));
    events.push(
      event(ref.name, EventType.ENV_PROVISION_COMPLETE, {
        applied,
        status: after.result.status,
        revision: spec.revision,
      }),
    );
    // Alert once per distinct set of waiting fixes, not on every reconnect.
    const signature = JSON.stringify([
      pending.map((p) => [p.id, p.command]),
      kept.map((k) => [k.file, k.diff]),
    ]);
    if ((pending.length > 0 || kept.length > 0) && memory.manualSignature(ref.name) !== signature) {
      events.push(
        event(ref.name, EventType.ENV_PROVISION_MANUAL_REQUIRED, { pending, kept, revision: spec.revision }),
      );
      memory.setManualSignature(ref.name, signature);
    } else if (pending.length === 0 && kept.length === 0) {
      memory.setManualSignature(ref.name, '');
    }
    return { out, events };
  }

  const approveTimeoutMs = deps.settings.install_timeout_ms + deps.settings.probe_timeout_ms * 4;

  return {
    approveTimeoutMs,
    async check(specs, project) {
      const results: EnvResult[] = [];
      for (const { ref, spec } of targets(specs, project)) {
        const { result } = await serial(ref.name, () => checkOne(ref, spec));
        deps.emit(report(result));
        results.push(result);
      }
      return { results };
    },
    async provision(specs, opts) {
      const results: EnvProvisionResult[] = [];
      for (const { ref, spec } of targets(specs, opts.project)) {
        const { out, events } = await serial(ref.name, () => provisionOne(ref, spec, opts.dryRun, opts.only));
        if (events.length > 0) deps.emit(events);
        results.push(out);
        log.info(
          {
            project: ref.name,
            dry_run: opts.dryRun,
            applied: out.applied.length,
            pending: out.pending.length,
            status: out.result.status,
          },
          'environment provisioned',
        );
      }
      return { results };
    },
    async approve(spec, itemId) {
      const [{ ref }] = targets([spec], spec.project) as [{ ref: ProjectRef; spec: ProjectEnvSpec }];
      return serial(ref.name, async () => {
        const before = await checkOne(ref, spec);
        const found = before.findings.find((f) => f.item.id === itemId);
        if (found === undefined) {
          throw new HalError(ErrorCode.NOT_FOUND, `project "${ref.name}" has no item "${itemId}"`, {
            details: { item: itemId, items: before.result.items.map((i) => i.id) },
          });
        }
        if (found.item.status === 'pass') {
          throw new HalError(ErrorCode.CONFLICT, `item "${itemId}" already passes; nothing to approve`);
        }
        const fix = found.item.fix;
        if (fix?.command === undefined || (fix.kind !== 'risky' && fix.kind !== 'manual')) {
          throw new HalError(
            ErrorCode.CONFLICT,
            `item "${itemId}" has no command to approve (${fix?.kind ?? 'no'} fix: ${fix?.action ?? 'none'})`,
          );
        }
        const helper = deps.settings.privileged_helper;
        // Manual commands (git switch, set-url) are shown, never run: they act on a person's work.
        const runIt = fix.kind === 'risky' && helper !== undefined && helper.length > 0;
        let exitCode: number | null = null;
        let output = '';
        if (runIt) {
          const outcome = await runPrivileged({
            helper,
            command: fix.command,
            cwd: ref.directory,
            env: probe.env,
            timeoutMs: deps.settings.install_timeout_ms,
          });
          exitCode = outcome.code;
          output = outcome.output;
          log.info({ project: ref.name, item: itemId, exit_code: exitCode }, 'approved fix ran');
        }
        const after = await checkOne(ref, spec);
        const afterItem = after.findings.find((f) => f.item.id === itemId)?.item ?? found.item;
        const events = report(after.result);
        if (runIt && afterItem.status === 'pass') {
          events.push(
            event(ref.name, EventType.ENV_PROVISION_COMPLETE, {
              applied: [{ id: itemId, action: `ran ${fix.command.join(' ')} (approved)` }],
              status: after.result.status,
              revision: spec.revision,
            }),
          );
        }
        deps.emit(events);
        return {
          node: deps.node,
          project: ref.name,
          item: itemId,
          command: fix.command,
          ran: runIt,
          exit_code: exitCode,
          output,
          after: afterItem,
        };
      });
    },
    start() {
      if (deps.settings.progress_poll_ms <= 0) return;
      watch = createMilestoneWatch({
        projects: deps.projects,
        memory,
        intervalMs: deps.settings.progress_poll_ms,
        log,
        emit: (project, milestone, file) =>
          deps.emit([event(project, EventType.ENV_MILESTONE, { milestone, file })]),
      });
      watch.start();
    },
    stop() {
      watch?.stop();
    },
  };
}
