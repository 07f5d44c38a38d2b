import type { CostProvider } from '@hal/config';

/** UTC days, both ends included (`2026-11-20`). */
export interface DayRange {
  from: string;
  to: string;
}

/** One provider usage bucket, normalised: tokens by kind for one model × scope × key × UTC day. */
export interface UsageRow {
  day: string;
  model: string;
  /** Anthropic workspace id or OpenAI project id; '' when the provider reports none (default workspace). */
  scopeId: string;
  apiKeyId: string;
  input: number;
  output: number;
  cacheRead: number;
  cacheWrite: number;
  /** Requests counted by the provider (OpenAI); 0 where the report has no count (Anthropic). */
  requests: number;
}

/** One billed amount, in micro-dollars, for one model × scope × line item × UTC day. */
export interface CostRow {
  day: string;
  model: string;
  scopeId: string;
  lineItem: string;
  micros: number;
}

export interface ProviderReport {
  usage: UsageRow[];
  cost: CostRow[];
}

export interface ProviderClient {
  readonly provider: CostProvider;
  /** Reads every page of usage and cost for the days; throws a HalError on any failure. */
  fetchReport(range: DayRange): Promise<ProviderReport>;
}

export const DAY_MS = 86_400_000;

export function dayOf(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

export function dayStartMs(day: string): number {
  return Date.parse(`${day}T00:00:00Z`);
}

export function inRange(day: string, range: DayRange): boolean {
  return day >= range.from && day <= range.to;
}
