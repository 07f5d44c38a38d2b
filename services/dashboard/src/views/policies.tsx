import { useState } from 'preact/hooks';
import { ApiError } from '../api.ts';
import { can } from '../auth.ts';
import { useApp } from '../context.ts';
import { dateTime } from '../format.ts';
import { useLoad } from '../hooks.ts';
import { href } from '../router.ts';
import type { PolicyView } from '../types.ts';

export function PoliciesView() {
  const { api, principal, notify } = useApp();
  const [busy, setBusy] = useState<string | null>(null);
  const { data, error, reload } = useLoad(
    async () => (await api.get<PolicyView[]>('api/v1/policies')).data,
    [],
    {
      when: (e) => e.type === 'policy.action',
      debounceMs: 500,
    },
  );
  const admin = can(principal, 'admin');
  const act = async (name: string, path: string, body: Record<string, unknown> = {}): Promise<void> => {
    setBusy(name);
    try {
      await api.post(`api/v1/policies/${encodeURIComponent(name)}/${path}`, body);
      notify('ok', `${name}: ${path}${body.dry_run === undefined ? '' : ` ${body.dry_run ? 'on' : 'off'}`}`);
      reload();
    } catch (err) {
      notify('error', err instanceof ApiError ? `${err.code}: ${err.message}` : String(err));
    } finally {
      setBusy(null);
    }
  };
  return (
    <div data-testid="policies">
      {error !== undefined && <section class="card error">{error}</section>}
      {(data ?? []).map((p) => (
        <section class="card policy" key={p.name} data-policy={p.name}>
          <h3>
            {p.name}{' '}
            <span class={`badge ${p.enabled ? 'ok' : 'muted'}`}>{p.enabled ? 'enabled' : 'disabled'}</span>{' '}
            {p.dry_run && <span class="badge warn">dry run</span>}{' '}
            <span class="muted small">
              {p.enabled_source === 'override' ? 'changed at run time' : 'as configured'}
            </span>
          </h3>
          {admin && (
            <div class="buttons">
              {p.enabled ? (
                <button
                  type="button"
                  disabled={busy !== null}
                  onClick={() => act(p.name, 'disable')}
                  data-action="disable"
                >
                  Disable
                </button>
              ) : (
                <button
                  type="button"
                  disabled={busy !== null}
                  onClick={() => act(p.name, 'enable')}
                  data-action="enable"
                >
                  Enable
                </button>
              )}
              <button
                type="button"
                disabled={busy !== null}
                onClick={() => act(p.name, 'dry-run', { dry_run: !p.dry_run })}
                data-action="dry-run"
              >
                {p.dry_run ? 'Act for real' : 'Dry run'}
              </button>
            </div>
          )}
          <details>
            <summary class="muted">configuration</summary>
            <pre>{JSON.stringify(p.config, null, 2)}</pre>
          </details>
          <h4>Recent decisions</h4>
          {p.recent_actions.length === 0 && <p class="muted">None yet.</p>}
          <table class="compact">
            <tbody>
              {p.recent_actions.slice(0, 20).map((a, i) => (
                <tr key={`${a.time}-${i}`}>
                  <td class="muted">{dateTime(a.time)}</td>
                  <td>
                    <span
                      class={`badge ${a.decision === 'acted' ? 'ok' : a.decision === 'failed' ? 'bad' : a.decision === 'dry_run' ? 'warn' : 'muted'}`}
                    >
                      {a.decision}
                    </span>
                  </td>
                  <td>
                    {a.session === null ? (
                      a.project || a.node
                    ) : (
                      <a href={href('session', a.session)}>{a.session}</a>
                    )}
                  </td>
                  <td>{a.reason}</td>
                  <td class="muted">
                    {a.result === undefined ? '' : a.result.ok ? 'ok' : (a.result.code ?? 'failed')}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      ))}
    </div>
  );
}
