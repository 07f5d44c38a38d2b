import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig, runValidate } from '@hal/config';
import { memorySink, TOKEN, tempDir } from './fixtures.ts';

const GUILD = '111111111111111111';
const ALERTS = '222222222222222222';
const WEB = '333333333333333333';

test('config discord - defaults: roles empty, no project threads, no report, Discord as the API', () => {
  const c = parseConfig(
    'supervisor',
    { server: { auth_token: TOKEN }, channels: { discord: { bot_token: 'b', guild_id: GUILD } } },
    { env: {} },
  );
  assert.deepEqual(c.channels.discord, {
    bot_token: 'b',
    guild_id: GUILD,
    channels: {},
    roles: { viewer: [], operator: [], admin: [] },
    project_channels: {},
    api_url: 'https://discord.com/api',
  });
});

test('config discord - every key parsed; a single role id becomes a list', () => {
  const c = parseConfig(
    'supervisor',
    {
      server: { auth_token: TOKEN },
      channels: {
        discord: {
          bot_token: 'b',
          guild_id: GUILD,
          channels: { alerts: ALERTS, 'dev-log': ALERTS },
          roles: { viewer: ['444444444444444444', '555555555555555555'], operator: '666666666666666666' },
          project_channels: { web: WEB },
          daily_report: { channel: ALERTS, hour_utc: 7 },
          api_url: 'http://127.0.0.1:9999/api',
        },
      },
    },
    { env: {} },
  );
  const d = c.channels.discord!;
  assert.deepEqual(d.roles, {
    viewer: ['444444444444444444', '555555555555555555'],
    operator: ['666666666666666666'],
    admin: [],
  });
  assert.deepEqual(d.project_channels, { web: WEB });
  assert.deepEqual(d.daily_report, { channel: ALERTS, hour_utc: 7 });
  assert.equal(d.api_url, 'http://127.0.0.1:9999/api');
});

test('config discord - --validate names every id that is not a snowflake, and a bad hour or URL', (t) => {
  const { dir, write } = tempDir(t);
  const file = write(
    's.json',
    JSON.stringify({
      server: { auth_token: TOKEN },
      channels: {
        discord: {
          bot_token: 'b',
          guild_id: 'my-guild',
          channels: { alerts: '12' },
          roles: { operator: ['666666666666666666', 'ops'] },
          project_channels: { web: '#web' },
          daily_report: { channel: ALERTS, hour_utc: 24 },
          api_url: 'ftp://discord',
        },
      },
      routes: [{ match: 'session.error', target: 'discord#pager' }],
    }),
  );
  const err = memorySink();
  assert.equal(runValidate('supervisor', file, memorySink(), err, { env: {}, cwd: dir }), 1);
  const text = err.text();
  assert.match(
    text,
    /^channels\.discord\.guild_id: must be a Discord guild id \(a snowflake: 17 to 20 digits\)/m,
  );
  assert.match(text, /^channels\.discord\.channels\.alerts: must be a Discord channel id/m);
  assert.match(text, /^channels\.discord\.roles\.operator\[1\]: must be a Discord role id/m);
  assert.match(text, /^channels\.discord\.project_channels\.web: must be a Discord channel id/m);
  assert.match(text, /^channels\.discord\.daily_report\.hour_utc: /m);
  assert.match(text, /^channels\.discord\.api_url: must be a valid url, got "ftp:\/\/discord"/m);
  assert.match(text, /^routes\[0\]\.target: unknown target "discord#pager"/m);
});

test('config discord - bot_token_file reads the token from a file', (t) => {
  const { dir, write } = tempDir(t);
  write('bot.txt', 'secret-bot-token\n');
  const c = parseConfig(
    'supervisor',
    { server: { auth_token: TOKEN }, channels: { discord: { bot_token_file: 'bot.txt', guild_id: GUILD } } },
    { env: {}, cwd: dir },
  );
  assert.equal(c.channels.discord?.bot_token, 'secret-bot-token');
});
