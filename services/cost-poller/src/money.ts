/**
 * Money is held as integer micro-dollars (1e-6 USD) from the moment it is parsed: float sums
 * drift ($0.1 + $0.2 ≠ $0.3), and a report must add up to the cent. Decimals beyond a
 * micro-dollar are rounded half-to-even once, at parse time.
 */
export const MICROS_PER_USD = 1_000_000;

const DECIMAL = /^(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/;

/**
 * `value` is a non-negative decimal in units of 10^unitExponent USD (Anthropic: cents, -2;
 * OpenAI: dollars, 0). Returns undefined for anything that is not such a decimal (negative,
 * empty, "NaN", "1,5") so the caller can reject the whole response.
 */
export function decimalToMicros(value: string, unitExponent: number): number | undefined {
  const m = DECIMAL.exec(value.trim());
  if (m === null) return undefined;
  const frac = m[2] ?? '';
  const digits = BigInt(`${m[1]}${frac}`);
  const shift = Number(m[3] ?? '0') - frac.length + unitExponent + 6;
  let micros: bigint;
  if (shift >= 0) {
    micros = digits * 10n ** BigInt(shift);
  } else {
    const div = 10n ** BigInt(-shift);
    const q = digits / div;
    const r = digits % div;
    const twice = r * 2n;
    micros = twice > div || (twice === div && q % 2n === 1n) ? q + 1n : q;
  }
  if (micros > BigInt(Number.MAX_SAFE_INTEGER)) return undefined;
  return Number(micros);
}

/** A JSON number (opencode's cost_usd, OpenAI's amount.value) as micro-dollars, via its shortest decimal form. */
export function usdNumberToMicros(value: number): number | undefined {
  if (!Number.isFinite(value) || value < 0) return undefined;
  return decimalToMicros(String(value), 0);
}

/** `tokens` priced at `usdPerMillion` (USD per million tokens) = tokens × rate micro-dollars, exactly. */
export function tokensToMicros(tokens: number, usdPerMillion: number): number {
  const ratePicos = decimalToMicros(String(usdPerMillion), 0) ?? 0;
  const total = BigInt(tokens) * BigInt(ratePicos);
  const q = total / 1_000_000n;
  const r = total % 1_000_000n;
  return Number(r * 2n >= 1_000_000n ? q + 1n : q);
}

/** For output only: totals are summed in micros first, then converted once. */
export function microsToUsd(micros: number): number {
  return micros / MICROS_PER_USD;
}
