import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

export const TOKEN = 'a'.repeat(32);

/** A temp dir removed after the test; returns a function that writes files into it. */
export function tempDir(t: TestContext): { dir: string; write: (name: string, content: string) => string } {
  const dir = mkdtempSync(join(tmpdir(), 'hal-config-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return {
    dir,
    write: (name, content) => {
      const file = join(dir, name);
      writeFileSync(file, content);
      return file;
    },
  };
}

export function memorySink(): { write(chunk: string): void; text(): string } {
  let buf = '';
  return {
    write: (chunk) => {
      buf += chunk;
    },
    text: () => buf,
  };
}
