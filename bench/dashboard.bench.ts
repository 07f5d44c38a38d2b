// The web dashboard in a real browser (Debian's chromium through playwright-core) on the real
// gateway, tracker and HTTP API, with 10,000 sessions in the tracker:
// 1. an opencode event (the testkit's fake opencode emits a finished text part) → the real
//    hal-agent → the real gateway → JetStream → the API's SSE stream → its row on the open
//    session page, painted (the end of the frame that draws it); p50/p99 as a ratio to a raw
//    fetch reader of the same SSE URL in the same page that only waits for the next frame (the
//    least any page pays to show an event; goal). Also #15's figure without a goal: the row's
//    insertion into the DOM against the API's SSE read by a plain fetch client in node.
// 2. the first render of the session list (10,000 sessions, first page on screen) from a fresh
//    page load, against the issue's 1 s budget.
import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { connectBus, ensureStreams, jetstreamClient, request } from '@hal/bus';
import { createGateway, createHttpApi } from '@hal/gateway';
import { createLogger, createRegistry, Readiness } from '@hal/observability';
import { commandRequestSchema, type EventRecord, subjects } from '@hal/protocol';
import { type Chromium, launchChromium, parseSse, waitFor } from '@hal/testkit';
import { z } from 'zod';
import { benchAgent, benchTracker, seedSessions } from './fixtures.ts';
import type { BenchContext } from './harness.ts';
import { jetstreamPublishToConsume } from './raw/nats.ts';
import { percentile } from './stats.ts';

const TOKEN = 'bench-dashboard-token-0123456789';
/** A Chrome performance trace of the event phase goes to this file when set. */
const { BENCH_DASHBOARD_TRACE: traceFile } = process.env;
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

  // --- opencode event → row on the open session page ------------------------------------------
  // Two stamps per row: when it entered the DOM (#15's figure, against the API's SSE read by node)
  // and the frame that paints it (what a person sees), against a raw reader of the same SSE URL in
  // the same page that only waits for the next frame (the least any page pays). Every
  // requestAnimationFrame callback of the page is wrapped (before any of its scripts runs) to know
  // which frame is being drawn: its timestamp, when the main thread entered it, and when the main
  // thread left it (a task posted from inside the frame runs after its style, layout and paint).
  await page.addInitScript({ content: FRAME_CLOCK });
  // The whole session page on screen (facts, log, events), as for someone watching it: rows drawn
  // below the fold would be painted but not seen.
  await page.setViewportSize({ width: 1400, height: 1600 });
  await page.goto(`${apiUrl}/?watch#/session/${encodeURIComponent(session)}`);
  await page.getByTestId('events').waitFor();
  await page.locator('[data-testid="stream-status"][data-status="live"]').waitFor();
  await page.evaluate(pageRecorder(TOKEN));
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Performance.enable');
  const metricsBefore = await rendererMetrics(cdp);
  const trace = traceFile === undefined ? undefined : await startTrace(cdp);

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
  // #16's baseline for the API's SSE delivery, raw JetStream publish → consume at the same pacing,
  // runs in the same seconds as the events below: the browser paints and the machine is as busy
  // for both. (Run after them, with the page idle, its p99 was measured on a quieter machine.)
  const rawRun = jetstreamPublishToConsume(nats.url, { count, spacingMs: 20 });
  rawRun.catch(() => undefined); // awaited below; a failure before then is not an unhandled one
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
  const want = [...apiSeen.entries()];
  const seen = await waitFor(
    async () => {
      const r = recordedSchema.parse(await page.evaluate('window.__halRecorded()'));
      const rows = new Map(r.rows.map((x) => [x.seq, x]));
      const base = new Map(r.base.map((x) => [x.part, x]));
      return want.every(
        ([part, v]) => rows.get(v.seq)?.frame.end !== undefined && base.get(part)?.frame.end !== undefined,
      )
        ? { rows, base }
        : undefined;
    },
    { timeoutMs: 30_000, message: 'every bench event as a painted row on the page and in the raw reader' },
  );
  const metricsAfter = await rendererMetrics(cdp);
  // Whether the newest row is on screen at all (not below the fold, not scrolled out of its box).
  const newestOnScreen = await page.evaluate(`(() => {
    const rows = document.querySelectorAll('[data-testid="events"] tr[data-seq]');
    const r = rows[rows.length - 1].getBoundingClientRect();
    const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    return hit !== null && hit.closest('tr') === rows[rows.length - 1];
  })()`);
  if (trace !== undefined && traceFile !== undefined) {
    await writeFile(traceFile, JSON.stringify({ traceEvents: await trace() }));
    ctx.log(`trace of the event phase: ${traceFile}`);
  }
  await page.evaluate('window.__halStopRaw()');
  sse.abort();
  await reading;

  const apiLatency: number[] = [];
  const rowLatency: number[] = [];
  const paintedLatency: number[] = [];
  const rawFrameLatency: number[] = [];
  /** The main thread's time in a frame that drew rows, and the delay from its vsync to entering it. */
  const frameWork: number[] = [];
  const frameLate: number[] = [];
  /** Rows drawn a frame or more after the frame that drew the same event for the raw reader. */
  let laterFrame = 0;
  for (const [part, sent] of emitted) {
    const api = apiSeen.get(part);
    if (api === undefined) continue;
    const row = seen.rows.get(api.seq);
    const base = seen.base.get(part);
    if (row === undefined || base === undefined) continue;
    apiLatency.push(api.at - sent);
    rowLatency.push(row.inserted - sent);
    paintedLatency.push((row.frame.end ?? Number.NaN) - sent);
    rawFrameLatency.push(base.frame.entry - sent);
    frameWork.push((row.frame.end ?? Number.NaN) - row.frame.entry);
    frameLate.push(row.frame.entry - row.frame.ts);
    if (row.frame.ts > base.frame.ts) laterFrame++;
  }
  for (const q of [50, 99] as const) {
    const base = percentile(apiLatency, q);
    // #15 asked for this ratio; its goal moved to the painted figure below (bench/README.md).
    ctx.record({
      name: `dashboard.opencode_event_to_row.p${q}`,
      value: percentile(rowLatency, q),
      unit: 'ms',
      baseline: { name: `api.sse.opencode_event_delivery.p${q} (same run)`, value: base, unit: 'ms' },
    });
  }
  for (const q of [50, 99] as const) {
    ctx.record({
      name: `dashboard.opencode_event_to_painted_row.p${q}`,
      value: percentile(paintedLatency, q),
      unit: 'ms',
      baseline: {
        name: `browser.sse_to_next_frame.p${q} (same run, same page)`,
        value: percentile(rawFrameLatency, q),
        unit: 'ms',
      },
      goal: { op: '<=', value: q === 50 ? 2 : 3 },
    });
  }
  // Where the time goes in the page, each from the opencode emit: the raw reader's chunk, the
  // frame after it (its vsync, the main thread entering it, leaving it), the row's insertion and
  // its frame.
  const hops: Record<string, number[]> = {};
  for (const [part, sent] of emitted) {
    const api = apiSeen.get(part);
    const row = api && seen.rows.get(api.seq);
    const base = seen.base.get(part);
    if (row === undefined || base === undefined) continue;
    const hop = (k: string, v: number | undefined): void => {
      const list = hops[k] ?? [];
      list.push((v ?? Number.NaN) - sent);
      hops[k] = list;
    };
    hop('raw chunk', base.arrived);
    for (const k of ['ts', 'entry', 'end'] as const) hop(`raw frame.${k}`, base.frame[k]);
    hop('row inserted', row.inserted);
    for (const k of ['ts', 'entry', 'end'] as const) hop(`row frame.${k}`, row.frame[k]);
  }
  ctx.log(
    `in the page, p50/p99 ms from the emit: ${Object.entries(hops)
      .map(([k, v]) => `${k} ${percentile(v, 50).toFixed(1)}/${percentile(v, 99).toFixed(1)}`)
      .join(', ')}`,
  );
  const events = paintedLatency.length;
  const per = (k: string): string =>
    ((((metricsAfter[k] ?? 0) - (metricsBefore[k] ?? 0)) * 1000) / Math.max(1, events)).toFixed(2);
  ctx.log(
    `painted rows: ${events} events, newest row on screen at the end: ${newestOnScreen ? 'yes' : 'no'}; ${laterFrame} drawn a frame or more after the raw reader's; a frame that drew rows: main thread p50 ${percentile(frameWork, 50).toFixed(1)} / p99 ${percentile(frameWork, 99).toFixed(1)} ms, entered p50 ${percentile(frameLate, 50).toFixed(1)} / p99 ${percentile(frameLate, 99).toFixed(1)} ms after its vsync`,
  );
  ctx.log(
    `renderer main thread per event: tasks ${per('TaskDuration')} ms (script ${per('ScriptDuration')}, style ${per('RecalcStyleDuration')}, layout ${per('LayoutDuration')})`,
  );
  // #16: the API's SSE delivery itself against the raw building block it rests on, same seconds, same pacing.
  const raw = await rawRun;
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

/**
 * Installed before the page's own scripts: every requestAnimationFrame callback runs through it,
 * so `__halFrames.cur` is the frame being drawn while its callbacks run (null between frames).
 * A frame: `ts` its timestamp (the vsync it draws for), `entry` when the main thread entered it,
 * `end` when it left it — a task posted from inside the frame runs after the frame's style,
 * layout and paint (the whole frame is one task of the main thread). Wall-clock milliseconds.
 */
const FRAME_CLOCK = `(() => {
  const raf = window.requestAnimationFrame.bind(window);
  const clock = (t) => performance.timeOrigin + t;
  const F = { cur: null };
  window.__halFrames = F;
  window.requestAnimationFrame = (cb) => raf((ts) => {
    if (F.cur === null || F.cur.raw !== ts) {
      const f = { raw: ts, ts: clock(ts), entry: clock(performance.now()), end: undefined };
      F.cur = f;
      const ch = new MessageChannel();
      ch.port1.onmessage = () => { f.end = clock(performance.now()); if (F.cur === f) F.cur = null; };
      ch.port2.postMessage(null);
    }
    cb(ts);
  });
})();`;

/**
 * Runs in the session page once it is live. Rows: a MutationObserver stamps each new row of the
 * events table when it enters the DOM, and gives it the frame that paints it (the frame being drawn
 * when it was inserted inside one, else the next). The raw reader: a plain fetch reader of the
 * dashboard's own SSE URL with the same Authorization header, which parses each message and asks
 * for the next frame, nothing else — the least a page pays to show an event.
 */
function pageRecorder(token: string): string {
  return `(() => {
  const F = window.__halFrames;
  const clock = () => performance.timeOrigin + performance.now();
  const rows = [];
  const base = [];
  const seen = new Set();
  let waiting = null;
  const nextFrame = (fn) => {
    if (waiting === null) {
      waiting = [];
      requestAnimationFrame(() => { const w = waiting; waiting = null; for (const f of w) f(F.cur); });
    }
    waiting.push(fn);
  };
  const add = (tr) => {
    const seq = Number(tr.getAttribute('data-seq'));
    if (seen.has(seq)) return;
    seen.add(seq);
    const row = { seq, inserted: clock(), frame: F.cur };
    rows.push(row);
    if (row.frame === null) nextFrame((f) => { row.frame = f; });
  };
  const table = document.querySelector('[data-testid="events"]');
  for (const tr of table.querySelectorAll('tr[data-seq]')) seen.add(Number(tr.getAttribute('data-seq')));
  new MutationObserver((records) => {
    for (const r of records)
      for (const n of r.addedNodes) {
        if (n.nodeType !== 1) continue;
        if (n.matches('tr[data-seq]')) add(n);
        else for (const tr of n.querySelectorAll('tr[data-seq]')) add(tr);
      }
  }).observe(table, { childList: true, subtree: true });

  const stop = new AbortController();
  window.__halStopRaw = () => stop.abort();
  (async () => {
    const res = await fetch(new URL('api/v1/events/stream', document.baseURI), {
      headers: { authorization: 'Bearer ${token}', accept: 'text/event-stream' },
      cache: 'no-store',
      signal: stop.signal,
    });
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      const arrived = clock();
      buf += value;
      for (let i = buf.indexOf('\\n\\n'); i >= 0; i = buf.indexOf('\\n\\n')) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const data = block.split('\\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\\n');
        if (data === '') continue;
        const e = JSON.parse(data);
        const part = e.data && e.data.part_id;
        if (e.type !== 'message.part' || typeof part !== 'string') continue;
        const b = { part, arrived, frame: null };
        base.push(b);
        nextFrame((f) => { b.frame = f; });
      }
    }
  })().catch(() => undefined);

  const frame = (f) => f && { ts: f.ts, entry: f.entry, end: f.end };
  window.__halRecorded = () => ({
    rows: rows.filter((r) => r.frame).map((r) => ({ seq: r.seq, inserted: r.inserted, frame: frame(r.frame) })),
    base: base.filter((b) => b.frame).map((b) => ({ part: b.part, arrived: b.arrived, frame: frame(b.frame) })),
  });
})()`;
}

const frameSchema = z.object({ ts: z.number(), entry: z.number(), end: z.number().optional() });
const recordedSchema = z.object({
  rows: z.array(z.object({ seq: z.number(), inserted: z.number(), frame: frameSchema })),
  base: z.array(z.object({ part: z.string(), arrived: z.number(), frame: frameSchema })),
});

/** The renderer's cumulative main-thread times (CDP Performance.getMetrics, seconds). */
async function rendererMetrics(cdp: CDPSession): Promise<Record<string, number>> {
  const { metrics } = (await cdp.send('Performance.getMetrics')) as {
    metrics: Array<{ name: string; value: number }>;
  };
  return Object.fromEntries(metrics.map((m) => [m.name, m.value]));
}

type CDPSession = Awaited<ReturnType<Chromium['context']['newCDPSession']>>;

/**
 * BENCH_DASHBOARD_TRACE=<file>: a Chrome performance trace of the event phase (open it in Chrome's
 * Performance panel or Perfetto). Returns the function that stops it and hands back its events.
 */
async function startTrace(cdp: CDPSession): Promise<() => Promise<unknown[]>> {
  const events: unknown[] = [];
  cdp.on('Tracing.dataCollected', (e: { value: unknown[] }) => {
    for (const v of e.value) events.push(v);
  });
  await cdp.send('Tracing.start', {
    transferMode: 'ReportEvents',
    traceConfig: {
      includedCategories: [
        'devtools.timeline',
        'disabled-by-default-devtools.timeline',
        'disabled-by-default-devtools.timeline.frame',
        'v8.execute',
        'blink.user_timing',
        'disabled-by-default-v8.cpu_profiler',
      ],
    },
  });
  return async () => {
    const done = new Promise<void>((resolve) => cdp.once('Tracing.tracingComplete', () => resolve()));
    await cdp.send('Tracing.end');
    await done;
    return events;
  };
}
