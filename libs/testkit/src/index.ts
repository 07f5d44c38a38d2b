export { track as killWithTestProcess } from './children.ts';
export { type BrowserProblem, type Chromium, launchChromium } from './chromium.ts';
export { compiledEntry, compileTestFiles } from './compiled-entry.ts';
export { type CuttingProxy, startCuttingProxy } from './cutting-proxy.ts';
export {
  type FakeAnthropicData,
  startFakeAnthropic,
} from './fake-anthropic.ts';
export { FakeClock } from './fake-clock.ts';
export {
  type CommandOptionValue,
  type DiscordTestUser,
  type FakeDiscord,
  startFakeDiscord,
} from './fake-discord.ts';
export { messageProblems } from './fake-discord-limits.ts';
export type {
  FakeDiscordChannel,
  FakeDiscordMessage,
  FakeInteraction,
} from './fake-discord-state.ts';
export {
  type FakeOpenAIData,
  startFakeOpenAI,
} from './fake-openai.ts';
export {
  type FakeOpencode,
  startFakeOpencode,
} from './fake-opencode.ts';
export { createRng, fuzzSeed, type Rng } from './fuzz.ts';
export { NATS_NOT_FOUND_MESSAGE, type NatsServer, type StartNatsOptions, startNats } from './nats.ts';
export { type NatsCluster, startNatsCluster } from './nats-cluster.ts';
export { startNatsLinkProxy } from './nats-link-proxy.ts';
export { freePort } from './net.ts';
export {
  type OpencodeServer,
  opencodeBinary,
  opencodeProjectConfig,
  startOpencode,
} from './opencode.ts';
export { refusedUpgrade } from './refused-upgrade.ts';
export {
  type LlmUsage,
  type ScriptedLlm,
  startScriptedLlm,
} from './scripted-llm.ts';
export { type SimAgent, type SimEvent, startSimAgent } from './sim-agent.ts';
export { collectSse, parseSse, type SseMessage } from './sse.ts';
export { tempDir } from './temp-dir.ts';
export { waitFor } from './wait-for.ts';
