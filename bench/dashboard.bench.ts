// The web dashboard in a real browser (Debian's chromium through playwright-core) on the real
// gateway, tracker and HTTP API, with 10,000 sessions in the tracker:
// 1. an opencode event (the testkit's fake opencode emits a finished text part) → the real
//    hal-agent → the real gateway → JetStream → the API's SSE stream → its row on the open
//    session page; p50/p99 as a ratio to the API's own SSE delivery of the same events, read by a
//    plain fetch client in the same run (so the figure is what the dashboard adds).
// 2. the first render of the session list (10,000 sessions, first page on screen) from a fresh
//    page load, against the 1 s budget.
import { randomUUID } from 'node:crypto';
import { connectBus, ensureStreams, jetstreamClient, request } from '@hal/bus';
import { createGateway, createHttpApi } from '@hal/gateway';
import { createLogger, createRegistry, Readiness } from '@hal/observability';
import { commandRequestSchema, type EventRecord, subjects } from '@hal/protocol';
import { launchChromium, parseSse, waitFor } from '@hal/testkit';
import { z } from 'zod';
import { benchAgent, benchTracker, seedSessions } from './fixtures.ts';
import type { BenchContext } from './harness.ts';
import { jetstreamPublishToConsume } from './raw/nats.ts';
import { percentile } from './stats.ts';

const TOKEN = 'bench-dashboard-token-0123456789';
const NODE = 'bench-node';
const PROJECT = 'bench';

export default async function dashboard(ctx: BenchContext): Promise<void> {
  const nats = await ctx.nats();
  const log = createLogger({ service: 'bench-dashboard', level: 'silent' });
  const nc = await connectBus({ url: nats.url, name: 'bench-dashboard', log });
  ctx.defer(() => nc.close());
  await ensureStreams(nc);
  const js = jetstreamClient(nc);
  const _dir = await ctx.tmpDir();

  // 10,000 sessions, projected by the real tracker before anything is measured.
  const sessions = ctx.size(10_000, 500);
  const start = Date.now() - 3_600_000;
  await seedSessions(js, sessions, start);
  const registry = createRegistry({ defaultMetrics: false });
  const tracker = await benchTracker(ctx, { nc, log, registry });
  await tracker.start();
  await waitFor(() => tracker.appliedSeq() >= sessions, { timeoutMs: 120_000, intervalMs: 20 });

  const gw = createGateway({
    config: {
      server: { host: '127.0.0.1', port: 0, auth_token: TOKEN },
      heartbeat_interval_sec: 600,
      heartbeat_timeout_count: 3,
      security: { tls: { enabled: false }, origin_allowlist: [], node_tokens: {} },
    },
    nc,
    log,
    registry,
    gatewayId: 'bench-gw',
    stopGraceMs: 200,
  });
  await gw.start();
  ctx.defer(() => gw.stop());
  const httpApi = createHttpApi({
    config: {
      server: {
        http_host: '127.0.0.1',
        http_port: 0,
        auth_token: TOKEN,
        max_body_bytes: 1024 * 1024,
        metrics_public: false,
      },
      security: { api_tokens: [], audit: { enabled: false } },
    },
    nc,
    log,
    registry,
    readiness: new Readiness(),
  });
  await httpApi.start();
  ctx.defer(() => httpApi.stop());
  const apiUrl = `http://127.0.0.1:${httpApi.address().port}`;

  const { opencode, projectDir } = await benchAgent(ctx, {
    gatewayPort: gw.address().port,
    token: TOKEN,
    node: NODE,
    project: PROJECT,
    log,
  });
  const { session } = await waitFor(
    () =>
      request(
        nc,
        subjects.command(NODE),
        commandRequestSchema.parse({
          command: { type: 'start', project: PROJECT },
          actor: { kind: 'user', id: 'bench' },
          timeout_ms: 5_000,
        }),
        z.object({ session: z.string() }),
        { timeoutMs: 6_000 },
      ),
    { timeoutMs: 15_000, message: `a start command answered by ${NODE}` },
  );

  const browser = await launchChromium();
  ctx.defer(() => browser.close());
  const page = await browser.page();

  // --- first render of the session list with 10,000 sessions -------------------------------
  await page.goto(apiUrl);
  await page.getByTestId('token').fill(TOKEN);
  await page.getByTestId('sign-in-submit').click();
  await page.getByTestId('principal').waitFor();
  const renders: number[] = [];
  const loads = ctx.size(5, 2);
  for (let i = 0; i < loads; i++) {
    // A fresh page load each time (the token stays in this tab's session storage).
    await page.goto(`${apiUrl}/?load=${i}#/sessions`);
    await page.locator('[data-testid="session-list"] [data-session]').first().waitFor({ timeout: 30_000 });
    const ms = await page.evaluate(
      `new Promise((resolve) => { const find = () => { const m = performance.getEntriesByName('hal:sessions-first-page')[0]; if (m) resolve(m.startTime); else setTimeout(find, 10); }; find(); })`,
    );
    const total = await page.getByTestId('session-total').textContent();
    if (Number((total ?? '').replace(/,/g, '')) < sessions) throw new Error(`list shows ${total} sessions`);
    renders.push(Number(ms));
  }
  const rows = await page.locator('[data-testid="session-list"] .vrow').count();
  ctx.log(
    `session list: ${sessions} sessions, ${rows} rows in the DOM, first page at ${renders.map((r) => r.toFixed(0)).join(', ')} ms`,
  );
  ctx.record({
    name: `dashboard.sessions_list.first_render_${sessions}_sessions.p50`,
    value: percentile(renders, 50),
    unit: 'ms',
    baseline: { name: 'issue budget (first render under 1 s)', value: 1000, unit: 'ms' },
    goal: { op: '<=', value: 1 },
  });

  // --- opencode event → row on the open session page, vs the API's SSE delivery --------------
  await page.goto(`${apiUrl}/#/session/${encodeURIComponent(session)}`);
  await page.getByTestId('events').waitFor();
  await page.locator('[data-testid="stream-status"][data-status="live"]').waitFor();
  // Every row added to the events table, with the wall-clock time it appeared. The observer looks
  // at the added nodes only: querying every row at each mutation was itself a cost on the page.
  await page.evaluate(`(() => {
    window.__rows = [];
    const seen = new Set();
    const add = (tr, t) => {
      const seq = tr.getAttribute('data-seq');
      if (!seen.has(seq)) { seen.add(seq); window.__rows.push([Number(seq), t]); }
    };
    const table = document.querySelector('[data-testid="events"]');
    for (const tr of table.querySelectorAll('tr[data-seq]')) add(tr, performance.timeOrigin + performance.now());
    new MutationObserver((records) => {
      const t = performance.timeOrigin + performance.now();
      for (const r of records)
        for (const n of r.addedNodes) {
          if (n.nodeType !== 1) continue;
          if (n.matches('tr[data-seq]')) add(n, t);
          else for (const tr of n.querySelectorAll('tr[data-seq]')) add(tr, t);
        }
    }).observe(table, { childList: true, subtree: true });
  })()`);

  const sse = new AbortController();
  ctx.defer(() => sse.abort());
  const res = await fetch(`${apiUrl}/api/v1/events/stream?session=${encodeURIComponent(session)}`, {
    headers: { authorization: `Bearer ${TOKEN}` },
    signal: sse.signal,
  });
  const apiSeen = new Map<string, { seq: number; at: number }>();
  const reading = (async () => {
    for await (const m of parseSse(res.body as ReadableStream<Uint8Array>)) {
      const at = Date.now();
      const record = JSON.parse(m.data) as EventRecord;
      const part = record.data.part_id;
      if (record.type === 'message.part' && typeof part === 'string')
        apiSeen.set(part, { seq: Number(m.id), at });
    }
  })().catch(() => undefined);

  const count = ctx.size(300, 30);
  const emitted = new Map<string, number>();
  const messageId = `msg_bench_${randomUUID().slice(0, 8)}`;
  opencode.emit(projectDir, {
    type: 'message.updated',
    properties: {
      sessionID: session,
      info: { id: messageId, sessionID: session, role: 'assistant', time: { created: Date.now() } },
    },
  });
  for (let i = 0; i < count; i++) {
    const partId = `prt_bench_${String(i).padStart(5, '0')}`;
    emitted.set(partId, Date.now());
    opencode.emit(projectDir, {
      type: 'message.part.updated',
      properties: {
        sessionID: session,
        part: {
          id: partId,
          sessionID: session,
          messageID: messageId,
          type: 'text',
          text: `bench line ${i}`,
          time: { start: Date.now(), end: Date.now() },
        },
      },
    });
    // Spaced like a busy session, not a burst: each event is timed on its own.
    await new Promise((r) => setTimeout(r, 20));
  }
  await waitFor(() => apiSeen.size >= count, {
    timeoutMs: 30_000,
    message: `API SSE saw ${apiSeen.size} of ${count}`,
  });
  const rowsSeen = await waitFor(
    async () => {
      const r = (await page.evaluate('window.__rows')) as Array<[number, number]>;
      const bySeq = new Map(r);
      return [...apiSeen.values()].every((v) => bySeq.has(v.seq)) ? bySeq : undefined;
    },
    { timeoutMs: 30_000, message: 'every bench event as a row on the page' },
  );
  sse.abort();
  await reading;

  const apiLatency: number[] = [];
  const rowLatency: number[] = [];
  for (const [part, sent] of emitted) {
    const seen = apiSeen.get(part);
    if (seen === undefined) continue;
    apiLatency.push(seen.at - sent);
    rowLatency.push((rowsSeen.get(seen.seq) ?? Number.NaN) - sent);
  }
  for (const q of [50, 99] as const) {
    const base = percentile(apiLatency, q);
    ctx.record({
      name: `dashboard.opencode_event_to_row.p${q}`,
      value: percentile(rowLatency, q),
      unit: 'ms',
      baseline: { name: `api.sse.opencode_event_delivery.p${q} (same run)`, value: base, unit: 'ms' },
      goal: { op: '<=', value: q === 50 ? 2 : 3 },
    });
  }
  // #16: the API's SSE delivery itself against the raw building block it rests on, same run, same pacing.
  const raw = await jetstreamPublishToConsume(nats.url, { count, spacingMs: 20 });
  for (const q of [50, 99] as const) {
    ctx.record({
      name: `api.sse.opencode_event_delivery.p${q}`,
      value: percentile(apiLatency, q),
      unit: 'ms',
      baseline: {
        name: `jetstream.publish_to_consume.p${q} (same run)`,
        value: percentile(raw, q),
        unit: 'ms',
      },
      goal: { op: '<=', value: 10 },
    });
  }
  ctx.log(`event → row: ${rowLatency.length} events; api p50 ${percentile(apiLatency, 50).toFixed(1)} ms`);
  if (browser.problems.length > 0) ctx.log(`browser problems: ${JSON.stringify(browser.problems)}`);
}
