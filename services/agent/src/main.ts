import { runProcess } from '@hal/runtime/process';
import { createAgent } from './agent.ts';
import { QUICK_START_OPTIONS, quickStartConfig } from './quick-start.ts';
import { plaintextSupervisorWarning } from './supervisor-url.ts';

/**
 * `hal-agent --config FILE [--validate]`, or the quick start without a file
 * (`--supervisor URL --token-file F --project NAME=DIR …`): wiring only. Stopping closes the socket and the SSE
 * stream; the opencode sessions keep running.
 */
await runProcess({
  name: 'agent',
  role: 'agent',
  summary: 'Watches the opencode sessions of this host and streams them to the supervisor.',
  logFields: (config) => ({ node: config.node_id }),
  quickStart: { options: QUICK_START_OPTIONS, build: quickStartConfig },
  create: ({ config, log }) => {
    for (const url of [config.supervisor_url].flat()) {
      const plaintext = plaintextSupervisorWarning(url);
      if (plaintext !== undefined) log.warn({ supervisor_url: url }, plaintext);
    }
    return createAgent({ config, log });
  },
});
