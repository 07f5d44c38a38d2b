import assert from 'node:assert/strict';
import { test } from 'node:test';
import { renderTable } from '../src/table.ts';

const rows = [
  { id: 's1', title: 'a very long title that will not fit in a narrow terminal at all', n: 5 },
  { id: 's2', title: 'short', n: 12 },
];
const columns = [
  { header: 'ID', value: (r: (typeof rows)[number]) => r.id },
  { header: 'TITLE', value: (r: (typeof rows)[number]) => r.title, shrink: true },
  { header: 'N', value: (r: (typeof rows)[number]) => String(r.n), align: 'right' as const },
];

test('halctl table - fits the terminal by truncating shrinkable cells with an ellipsis', () => {
  const out = renderTable(rows, columns, 30);
  for (const line of out.split('\n')) assert.ok(line.length <= 30, `"${line}" is ${line.length} wide`);
  assert.equal(
    out,
    [
      'ID  TITLE                    N',
      's1  a very long title tha…   5',
      's2  short                   12',
    ].join('\n'),
  );
});

test('halctl table - a wide terminal shows every cell in full', () => {
  const out = renderTable(rows, columns, 200);
  assert.match(out, /a very long title that will not fit in a narrow terminal at all/);
});
