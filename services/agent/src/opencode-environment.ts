/**
 * The environment a managed opencode starts with. opencode runs an LLM that runs shell commands,
 * so whatever the agent's environment holds, the model can read (`env`, `/proc/self/environ`).
 * Dropped: every `HAL_*` variable (the agent's config overrides, its token file, other roles'
 * settings on a shared host) and any variable whose value holds one of the agent's secrets,
 * whatever its name.
 */
export function opencodeEnvironment(
  env: NodeJS.ProcessEnv,
  secrets: ReadonlyArray<string | undefined>,
): NodeJS.ProcessEnv {
  const known = secrets.filter((s): s is string => s !== undefined && s.length >= 8);
  const out: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined || /^HAL_/i.test(name)) continue;
    if (known.some((secret) => value.includes(secret))) continue;
    out[name] = value;
  }
  return out;
}
