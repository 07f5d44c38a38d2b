import { useEffect, useState } from 'preact/hooks';
import { useApp } from '../context.ts';
import { dateTime } from '../format.ts';
import { useLoad } from '../hooks.ts';
import { href } from '../router.ts';
import type { AuditRecord } from '../types.ts';

const LIMITS = ['50', '200', '1000'] as const;

export function AuditView({ params }: { params: URLSearchParams }) {
  const { api } = useApp();
  const actor = params.get('actor') ?? '';
  const action = params.get('action') ?? '';
  const limit = LIMITS.find((l) => l === params.get('limit')) ?? '50';
  const { data, error } = useLoad(
    async () =>
      (
        await api.get<AuditRecord[]>('api/v1/audit', {
          limit,
          ...(actor === '' ? {} : { actor }),
          ...(action === '' ? {} : { action }),
        })
      ).data,
    [actor, action, limit],
    { when: (e) => e.type === 'command.executed' || e.type === 'policy.action', debounceMs: 1000 },
  );
  const set = (name: string, value: string): void => {
    location.hash = href('audit', undefined, { actor, action, limit, [name]: value });
  };
  return (
    <section class="card" data-testid="audit">
      <h2>Audit log</h2>
      <form class="filters" onSubmit={(e) => e.preventDefault()}>
        <Text label="actor" value={actor} onCommit={(v) => set('actor', v)} />
        <Text label="action (session.kill)" value={action} onCommit={(v) => set('action', v)} />
        <select
          value={limit}
          onChange={(e) => set('limit', (e.target as HTMLSelectElement).value)}
          aria-label="how many"
        >
          {LIMITS.map((l) => (
            <option key={l} value={l}>
              newest {l}
            </option>
          ))}
        </select>
      </form>
      {error !== undefined && <p class="error">{error}</p>}
      {data !== undefined && data.length === 0 && <p class="muted">No record matches.</p>}
      <table class="compact">
        <thead>
          <tr>
            <th>time</th>
            <th>actor</th>
            <th>action</th>
            <th>target</th>
            <th>result</th>
            <th>params</th>
          </tr>
        </thead>
        <tbody>
          {(data ?? []).map((r) => (
            <tr key={r.id} data-action={r.action}>
              <td class="muted">{dateTime(r.time)}</td>
              <td>
                {r.actor.kind}:{r.actor.id}
              </td>
              <td>
                <code>{r.action}</code>
              </td>
              <td>
                {Object.entries(r.target).map(([k, v]) =>
                  k === 'session' ? (
                    <a key={k} href={href('session', v)}>
                      {v}{' '}
                    </a>
                  ) : (
                    <span key={k}>
                      {k}={v}{' '}
                    </span>
                  ),
                )}
              </td>
              <td>
                <span class={`badge ${r.result.ok ? 'ok' : 'bad'}`}>
                  {r.result.ok ? 'ok' : (r.result.code ?? 'failed')}
                </span>
              </td>
              <td class="muted small">{r.params === undefined ? '' : JSON.stringify(r.params)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function Text({ label, value, onCommit }: { label: string; value: string; onCommit(v: string): void }) {
  const [text, setText] = useState(value);
  useEffect(() => setText(value), [value]);
  return (
    <input
      type="search"
      placeholder={label}
      aria-label={label}
      value={text}
      onInput={(e) => setText((e.target as HTMLInputElement).value)}
      onChange={() => onCommit(text.trim())}
    />
  );
}
