export {
  type FakeAnthropic,
  type FakeAnthropicCost,
  type FakeAnthropicData,
  type FakeAnthropicUsage,
  type StartFakeAnthropicOptions,
  startFakeAnthropic,
} from './fake-anthropic.ts';
export {
  type FakeOpenAI,
  type FakeOpenAICost,
  type FakeOpenAIData,
  type FakeOpenAIUsage,
  type StartFakeOpenAIOptions,
  startFakeOpenAI,
} from './fake-openai.ts';
export type { FakeFailure, FakeProviderBase, RecordedProviderRequest } from './fake-provider-server.ts';
export { NATS_NOT_FOUND_MESSAGE, type NatsServer, type StartNatsOptions, startNats } from './nats.ts';
export { freePort } from './net.ts';
export { type WaitForOptions, waitFor } from './wait-for.ts';
