import assert from 'node:assert/strict';
import { test } from 'node:test';
import { messageProblems } from '@hal/testkit';
import { clip, embed, LIMITS, paginate, renderAlert } from '../src/index.ts';

test('discord embeds - clipping ends with … and respects the limit in characters', () => {
  assert.equal(clip('short', 10), 'short');
  assert.equal(clip('abcdefghij', 5), 'abcd…');
  assert.equal([...clip('é'.repeat(5000), LIMITS.description)].length, LIMITS.description);
});

test('discord embeds - oversized input still gives an embed Discord accepts (6,000 total, 25 fields)', () => {
  const e = embed({
    title: 't'.repeat(400),
    description: 'd'.repeat(5000),
    fields: Array.from({ length: 40 }, (_, i) => ({ name: `f${i}`, value: 'v'.repeat(2000) })),
    footer: 'x'.repeat(3000),
  });
  assert.deepEqual(messageProblems({ embeds: [e] }), []);
  assert.ok(e.title?.endsWith('…'));
  assert.ok((e.fields?.length ?? 0) <= 25);
});

test('discord embeds - long lists are split into pages that each fit', () => {
  const lines = Array.from({ length: 300 }, (_, i) => `line ${i} ${'x'.repeat(50)}`);
  const pages = paginate(lines, 1800);
  assert.ok(pages.length > 1);
  for (const p of pages) assert.ok([...p].length <= 1800);
  assert.equal(pages.join('\n'), lines.join('\n'));
});

test('discord embeds - an alert with a huge body renders within limits', () => {
  const e = renderAlert(
    {
      version: 1,
      id: '00000000-0000-4000-8000-000000000000',
      time: new Date().toISOString(),
      channel: 'discord',
      route: 'alerts',
      severity: 'warning',
      kind: 'session.error',
      title: 'x'.repeat(256),
      body: 'y'.repeat(4000),
      fields: Array.from({ length: 30 }, (_, i) => ({ name: `n${i}`, value: 'z'.repeat(1500) })),
      actions: [],
      count: 3,
    },
    undefined,
    Date.now(),
  );
  assert.deepEqual(messageProblems({ embeds: [e] }), []);
});
