import assert from 'node:assert/strict';
import { test } from 'node:test';
import { commandSchema, HANDOFF_LIMITS, handOffPrompt, MAX_PROMPT_CHARS } from '@hal/protocol';

test('hand-off - one prompt: intro, the old session, the task once, the last messages, the note', () => {
  const prompt = handOffPrompt({
    session: 'ses_old',
    title: 'parser work',
    task: 'Write the parser',
    intro: 'Take over from here.',
    lastMessages: ['assistant: the lexer is done', 'user: now the tests'],
    note: 'Focus on the tests.',
  });
  assert.equal(
    prompt,
    [
      'Take over from here.',
      'This session continues session ses_old ("parser work"), which was stopped and restarted.',
      'The task, as first given there:\n\nWrite the parser',
      'The last messages of the previous session:\nassistant: the lexer is done\n---\nuser: now the tests',
      'Check the current state of the work in this directory and carry on from where it stopped.',
      'Focus on the tests.',
    ].join('\n\n'),
  );
  assert.equal(prompt.split('The task, as first given').length, 2, 'the task appears once');
});

test('hand-off - a last message that repeats the task (whole, or its logged tail) is left out', () => {
  const task = `Write the parser for the config language, with errors that name the line. ${'x'.repeat(700)}`;
  const prompt = handOffPrompt({
    session: 's1',
    task,
    lastMessages: [`user: ${task.slice(-600)}`, 'assistant: done with the lexer', 'user: ok'],
  });
  assert.equal(prompt.split(task.slice(-600)).length, 2, 'the task appears once');
  assert.match(prompt, /assistant: done with the lexer\n---\nuser: ok/);
});

test('hand-off - without a task or extras it says the task is unknown, and it never exceeds a prompt', () => {
  assert.equal(
    handOffPrompt({ session: 's1' }),
    'This session continues session s1, which was stopped and restarted.\n\n' +
      'The original task text was not available.\n\n' +
      'Check the current state of the work in this directory and carry on from where it stopped.',
  );
  const long = handOffPrompt({ session: 's1', task: 'x'.repeat(MAX_PROMPT_CHARS), note: 'y'.repeat(50_000) });
  assert.equal(long.length, MAX_PROMPT_CHARS);
});

test('hand-off - a restart command carries a bounded handoff and nothing else', () => {
  const ok = commandSchema.safeParse({
    type: 'restart',
    session: 's1',
    handoff: { intro: 'Take over.', last_messages: ['a', 'b'], task: 'the task' },
  });
  assert.equal(ok.success, true);
  const tooMany = commandSchema.safeParse({
    type: 'restart',
    session: 's1',
    handoff: { last_messages: Array.from({ length: HANDOFF_LIMITS.messages + 1 }, () => 'm') },
  });
  assert.equal(tooMany.success, false);
  const extra = commandSchema.safeParse({ type: 'restart', session: 's1', handoff: { prompt: 'x' } });
  assert.equal(extra.success, false);
  const onInject = commandSchema.safeParse({ type: 'inject', session: 's1', prompt: 'p', handoff: {} });
  assert.equal(onInject.success, false);
});
