#!/usr/bin/env node
// The `npm start` demo's model: the testkit's scripted OpenAI-compatible LLM on loopback, so the
// demo opencode answers offline with real token counts. `node scripts/demo-llm.mjs --port P`;
// runs until SIGINT/SIGTERM. Loads the testkit from source (tsx + the `hal-source` condition).
// Its answers vary (text and token counts) so cost, budgets and the forecast have numbers to show,
// and a prompt that asks to list or run something gets a `bash` tool call — which the demo project's
// opencode.json makes ask for permission, so waiting_input and approval can be tried at once.
import { register } from 'node:module';

register('./source-conditions-hook.mjs', import.meta.url);
const { register: registerTsx } = await import('tsx/esm/api');
registerTsx();
const { startScriptedLlm } = await import('@hal/testkit');

const usage = (prompt, completion, cached) => ({
  prompt_tokens: prompt,
  completion_tokens: completion,
  prompt_tokens_details: { cached_tokens: cached },
});

const ANSWERS = [
  {
    text:
      'Hello from the HAL-O-SWARM demo! This answer comes from a scripted model on loopback, ' +
      'so every session, event and token you see here flows through the real spine.',
    usage: usage(1200, 48, 200),
  },
  {
    text:
      'You are looking at one node (demo-node) with one project. Each of my turns is a ' +
      'message.completed event with token counts; opencode prices them with the demo model rates.',
    usage: usage(2400, 96, 1100),
  },
  {
    text:
      'Try asking me to list the files of the project: I will want to run a command, opencode will ' +
      'ask for permission, and the session will wait for you (waiting_input) until you approve or deny.',
    usage: usage(3100, 130, 2300),
  },
  {
    text:
      'Budgets count what sessions spend: the demo has a per-session budget of $0.25 and a daily one ' +
      'of $2, so a few more prompts show a warning before anything is stopped.',
    usage: usage(4200, 210, 3000),
  },
];

const TOOL_WORDS = /\b(list|files?|ls|run|command|bash)\b/i;
let turn = 0;

/** The next answer: a tool result gets a summary, a request to list/run gets a bash call, else rotate. */
function respond(request) {
  const last = request.body.messages?.at(-1);
  if (last?.role === 'tool') {
    return {
      text: 'Done: the command ran after your approval. Every step of it is in the event log.',
      usage: usage(5200, 60, 4000),
    };
  }
  if (TOOL_WORDS.test(request.lastUserText)) {
    return {
      text: 'Let me look at the project first.',
      toolCall: {
        name: 'bash',
        arguments: { command: 'ls -la', description: 'List the files of the demo project' },
      },
      usage: usage(2600, 40, 1500),
    };
  }
  return ANSWERS[turn++ % ANSWERS.length];
}

const at = process.argv.indexOf('--port');
const port = at >= 0 ? Number(process.argv[at + 1]) : 0;
const llm = await startScriptedLlm({
  port,
  titleText: 'HAL-O-SWARM demo session',
  respond,
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
