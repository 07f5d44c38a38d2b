import { readFile } from 'node:fs/promises';
import { ErrorCode, HalError } from '@hal/protocol';

/** `security.tls` as the supervisor config gives it. */
export interface TlsConfig {
  enabled: boolean;
  cert_path?: string | undefined;
  key_path?: string | undefined;
}

/**
 * Reads the certificate and key once, at start. A missing path or an unreadable file is a
 * CONFIG_INVALID naming the key, so the operator sees which setting to fix instead of a bare
 * ENOENT from deep inside the TLS stack.
 */
export async function readTlsFiles(tls: TlsConfig): Promise<{ cert: Buffer; key: Buffer }> {
  const read = async (key: 'cert_path' | 'key_path'): Promise<Buffer> => {
    const path = tls[key];
    if (path === undefined || path === '') {
      throw new HalError(
        ErrorCode.CONFIG_INVALID,
        `security.tls.enabled is true but security.tls.${key} is not set`,
      );
    }
    try {
      return await readFile(path);
    } catch (err) {
      const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      throw new HalError(ErrorCode.CONFIG_INVALID, `security.tls.${key}: cannot read ${path} (${reason})`, {
        cause: err,
      });
    }
  };
  const [cert, key] = await Promise.all([read('cert_path'), read('key_path')]);
  return { cert, key };
}
