import { type EnvFix, type ProjectEnvSpec, parseVersion, satisfies } from '@hal/protocol';
import { type CheckContext, type Finding, item } from './finding.ts';

/** Runtimes and tools: found on PATH, and their `--version` within the spec's range. */
export async function checkPrograms(
  spec: ProjectEnvSpec,
  directory: string,
  ctx: CheckContext,
): Promise<Finding[]> {
  const findings: Finding[] = [];
  const { probe } = ctx;
  const program = async (
    category: 'runtime' | 'tool',
    s: ProjectEnvSpec['runtime'][number] | ProjectEnvSpec['tools'][number],
  ): Promise<void> => {
    const expected = s.version ?? 'installed';
    const install: EnvFix = s.install
      ? {
          kind: 'risky',
          action: `install ${s.name} (${expected}) with the manifest's command`,
          command: s.install,
        }
      : {
          kind: 'manual',
          action: `install ${s.name} (${expected}) on this host; the manifest has no install command`,
        };
    const path = probe.which(s.binary);
    if (path === undefined) {
      findings.push({
        item: item(category, s.name, expected, `${s.binary} not found on PATH`, 'fail', install),
      });
      return;
    }
    if (s.version === undefined) {
      findings.push({ item: item(category, s.name, expected, `installed (${path})`, 'pass') });
      return;
    }
    const out = await probe.run(path, ['--version'], { cwd: directory });
    const text = `${out.stdout}\n${out.stderr}`;
    const version = parseVersion(text);
    if (version === undefined) {
      const why = out.failure ?? `no version in its --version output: ${text.trim().split('\n')[0] ?? ''}`;
      findings.push({ item: item(category, s.name, expected, `unknown (${why})`, 'fail', install) });
      return;
    }
    const ok = satisfies(version, s.version);
    findings.push({ item: item(category, s.name, expected, version, ok ? 'pass' : 'fail', install) });
  };
  for (const r of spec.runtime) await program('runtime', r);
  for (const t of spec.tools) await program('tool', t);
  return findings;
}
