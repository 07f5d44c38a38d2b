import { runProcess } from '@hal/runtime/process';
import { createAgent } from './agent.ts';

/**
 * `hal-agent --config FILE [--validate]`: wiring only. Stopping closes the socket and the SSE
 * stream; the opencode sessions keep running.
 */
await runProcess({
  name: 'agent',
  role: 'agent',
  summary: 'Watches the opencode sessions of this host and streams them to the supervisor.',
  logFields: (config) => ({ node: config.node_id }),
  create: ({ config, log }) => createAgent({ config, log }),
});
