import type { Principal } from '@hal/commands';
import {
  type Command,
  type EnvManifestView,
  ErrorCode,
  envProvisionResultSchema,
  envResultSchema,
  parseOrThrow,
} from '@hal/protocol';
import { z } from 'zod';
import type { ApiDeps } from './deps.ts';

/** Installs may take minutes; other env commands a few seconds per project. */
export const CHECK_TIMEOUT_MS = 60_000;

export const checkData = z.object({ results: z.array(envResultSchema) });
export const provisionData = z.object({ results: z.array(envProvisionResultSchema) });

/**
 * What the env and AGENT.md routes share: the manifest as stored now, and an env command sent
 * to a node whose answer is checked like any input.
 */
export function envCommands(deps: ApiDeps) {
  return {
    async manifest(): Promise<EnvManifestView> {
      return (await deps.envManifest()).get();
    },
    async send<T extends z.ZodType>(
      node: string,
      command: Command,
      principal: Principal,
      timeout: number,
      schema: T,
    ): Promise<z.output<T>> {
      const data = await deps.commands.send(node, command, principal, timeout);
      // The agent is the least trusted party: its answer is checked like any input.
      return parseOrThrow(schema, data, `answer of node "${node}"`, ErrorCode.VALIDATION_FAILED);
    },
  };
}
