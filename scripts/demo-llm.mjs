#!/usr/bin/env node
// The `npm start` demo's model: the testkit's scripted OpenAI-compatible LLM on loopback, so the
// demo opencode answers offline with real token counts. `node scripts/demo-llm.mjs --port P`;
// runs until SIGINT/SIGTERM. Loads the testkit from source (tsx + the `hal-source` condition).
import { register } from 'node:module';

register('./source-conditions-hook.mjs', import.meta.url);
const { register: registerTsx } = await import('tsx/esm/api');
registerTsx();
const { startScriptedLlm } = await import('@hal/testkit');

const at = process.argv.indexOf('--port');
const port = at >= 0 ? Number(process.argv[at + 1]) : 0;
const llm = await startScriptedLlm({
  port,
  titleText: 'HAL-O-SWARM demo session',
  defaultText:
    'Hello from the HAL-O-SWARM demo! This answer comes from a scripted model on loopback, ' +
    'so every session, event and token you see here flows through the real spine.',
  defaultUsage: { prompt_tokens: 1200, completion_tokens: 48, prompt_tokens_details: { cached_tokens: 200 } },
  chunkDelayMs: 30,
});
console.log(JSON.stringify({ msg: 'scripted LLM listening', url: llm.url }));

let stopping = false;
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    if (stopping) return;
    stopping = true;
    void llm.stop().then(() => process.exit(0));
  });
}
