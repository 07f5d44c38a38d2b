import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ErrorCode, httpStatusOf } from '@hal/protocol';

const doc = readFileSync(new URL('../../../docs/ERRORS.md', import.meta.url), 'utf8');

/** `| \`CODE\` | 404 | meaning |` rows of docs/ERRORS.md. */
function documented(): Map<string, number> {
  const rows = new Map<string, number>();
  for (const m of doc.matchAll(/^\|\s*`([A-Z_]+)`\s*\|\s*(\d{3})\s*\|\s*(.+?)\s*\|\s*$/gm)) {
    assert.equal(rows.has(m[1] as string), false, `${m[1]} is listed twice`);
    assert.ok((m[3] as string).length > 10, `${m[1]} has a meaning`);
    rows.set(m[1] as string, Number(m[2]));
  }
  return rows;
}

test('errors doc - docs/ERRORS.md lists exactly the catalogue codes with their HTTP status', () => {
  const rows = documented();
  assert.deepEqual([...rows.keys()].sort(), Object.values(ErrorCode).sort());
  for (const code of Object.values(ErrorCode)) {
    assert.equal(rows.get(code), httpStatusOf[code], `HTTP status of ${code}`);
  }
});
