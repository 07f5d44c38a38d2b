export { type BrowserProblem, CHROMIUM_PATH, type Chromium, launchChromium } from './chromium.ts';
export { type CuttingProxy, startCuttingProxy } from './cutting-proxy.ts';
export {
  type FakeAnthropic,
  type FakeAnthropicCost,
  type FakeAnthropicData,
  type FakeAnthropicUsage,
  type StartFakeAnthropicOptions,
  startFakeAnthropic,
} from './fake-anthropic.ts';
export { FakeClock } from './fake-clock.ts';
export {
  type CommandOptionValue,
  type DiscordTestUser,
  type FakeDiscord,
  type RateLimitRule,
  type RecordedDiscordCall,
  type StartFakeDiscordOptions,
  startFakeDiscord,
} from './fake-discord.ts';
export { type GatewayFrame, GatewayOp, Intent } from './fake-discord-gateway.ts';
export { DISCORD_LIMITS, type FormError, messageProblems } from './fake-discord-limits.ts';
export type {
  FakeDiscordChannel,
  FakeDiscordCommand,
  FakeDiscordMessage,
  FakeDiscordUser,
  FakeGuildSpec,
  FakeInteraction,
} from './fake-discord-state.ts';
export {
  type FakeOpenAI,
  type FakeOpenAICost,
  type FakeOpenAIData,
  type FakeOpenAIUsage,
  type StartFakeOpenAIOptions,
  startFakeOpenAI,
} from './fake-openai.ts';
export {
  type FakeOcEvent,
  type FakeOcMessage,
  type FakeOcPermission,
  type FakeOcSession,
  type FakeOcTokens,
  type FakeOpencode,
  type StartFakeOpencodeOptions,
  startFakeOpencode,
} from './fake-opencode.ts';
export type { FakeFailure, FakeProviderBase, RecordedProviderRequest } from './fake-provider-server.ts';
export { createRng, fuzzSeed, type Rng } from './fuzz.ts';
export { NATS_NOT_FOUND_MESSAGE, type NatsServer, type StartNatsOptions, startNats } from './nats.ts';
export {
  type NatsCluster,
  type NatsClusterNode,
  type StartNatsClusterOptions,
  startNatsCluster,
} from './nats-cluster.ts';
export { freePort } from './net.ts';
export {
  type OpencodeProject,
  type OpencodeServer,
  opencodeBinary,
  opencodeProjectConfig,
  type StartOpencodeOptions,
  startOpencode,
} from './opencode.ts';
export {
  type ChatBody,
  type ChatMessage,
  type LlmError,
  type LlmStep,
  type LlmUsage,
  type RecordedLlmRequest,
  type ScriptedLlm,
  type StartScriptedLlmOptions,
  startScriptedLlm,
} from './scripted-llm.ts';
export { collectSse, parseSse, type SseCollector, type SseMessage } from './sse.ts';
export { type WaitForOptions, waitFor } from './wait-for.ts';
