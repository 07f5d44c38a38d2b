export const MASK = '***';

/** `auth_token`, `bot_token`, `admin_api_key`, `password`, `secret`, `creds`, `nkey_seed`, … but not `key_path`. */
const SECRET_KEY = /(^|_)(token|password|secret|key|creds|seed)$/i;
/** Maps whose every value is a secret (node → token) or may carry one (webhook headers). */
const SECRET_MAPS = new Set(['node_tokens', 'headers']);

export function isSecretKey(key: string): boolean {
  return SECRET_KEY.test(key) || SECRET_MAPS.has(key);
}

/**
 * A deep copy with every secret replaced by "***", for printing a config (`--validate`) or
 * logging it. Credentials inside URLs (`nats://user:pass@host`) are masked too, and a webhook
 * URL keeps only its origin: Slack, Discord and most hooks carry their secret in the path.
 */
export function maskSecrets<T>(config: T): T {
  return mask(config, false, false) as T;
}

function mask(value: unknown, secret: boolean, inWebhooks: boolean): unknown {
  if (Array.isArray(value)) return value.map((v) => mask(v, secret, inWebhooks));
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(value)) {
      const hookUrl = inWebhooks && key === 'url';
      out[key] = mask(v, secret || isSecretKey(key) || hookUrl, inWebhooks || key === 'webhooks');
      if (hookUrl && typeof v === 'string') out[key] = originOnly(v);
    }
    return out;
  }
  if (typeof value !== 'string') return value;
  if (secret) return value === '' ? value : MASK;
  return value.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/:@\s]*:)[^@/\s]+@/i, `$1${MASK}@`);
}

/** `https://hooks.slack.com/services/T0/B0/x` → `https://hooks.slack.com/***`. */
function originOnly(url: string): string {
  try {
    return `${new URL(url).origin}/${MASK}`;
  } catch {
    return MASK;
  }
}
