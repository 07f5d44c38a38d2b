import { useState } from 'preact/hooks';
import { ApiError } from '../api.ts';
import { can } from '../auth.ts';
import { useApp } from '../context.ts';
import { useLoad } from '../hooks.ts';
import type { StoredEvent } from '../types.ts';

interface Pending {
  id: string;
  permission: string;
  title: string | undefined;
  patterns: string[];
  asked_at: string;
}

/** Pending permissions of a session: asked and not yet replied, from the session's events. */
function pendingOf(events: StoredEvent[]): Pending[] {
  const open = new Map<string, Pending>();
  for (const e of events) {
    const id = typeof e.data.permission_id === 'string' ? e.data.permission_id : undefined;
    if (id === undefined) continue;
    if (e.type === 'permission.asked') {
      open.set(id, {
        id,
        permission: String(e.data.permission ?? 'permission'),
        title: typeof e.data.title === 'string' ? e.data.title : undefined,
        patterns: Array.isArray(e.data.patterns) ? e.data.patterns.map(String) : [],
        asked_at: e.time,
      });
    } else if (e.type === 'permission.replied') open.delete(id);
  }
  return [...open.values()];
}

/** What a waiting session asks, with Approve / Always / Deny for operators. */
export function PermissionRequests({
  session,
  pendingIds,
}: {
  session: string;
  pendingIds: readonly string[];
}) {
  const { api, principal, notify } = useApp();
  const [busy, setBusy] = useState<string | null>(null);
  const { data } = useLoad(
    async () =>
      (
        await api.get<StoredEvent[]>(`api/v1/sessions/${encodeURIComponent(session)}/events`, {
          type: 'permission.*',
          limit: 1000,
        })
      ).data,
    [session, pendingIds.join(',')],
  );
  const asked = pendingOf(data ?? []).filter((p) => pendingIds.includes(p.id));
  // An id the events do not explain yet (the index lags the stream by a moment) still gets a row.
  const shown: Pending[] = pendingIds.map(
    (id) =>
      asked.find((p) => p.id === id) ?? {
        id,
        permission: 'permission',
        title: undefined,
        patterns: [],
        asked_at: '',
      },
  );
  if (shown.length === 0) return null;
  const answer = async (id: string, response: 'once' | 'always' | 'reject'): Promise<void> => {
    setBusy(id);
    try {
      await api.post(`api/v1/sessions/${encodeURIComponent(session)}/permissions/${encodeURIComponent(id)}`, {
        response,
      });
      notify('ok', response === 'reject' ? 'Permission denied' : 'Permission approved');
    } catch (err) {
      notify('error', err instanceof ApiError ? `${err.code}: ${err.message}` : String(err));
    } finally {
      setBusy(null);
    }
  };
  return (
    <ul class="permissions" data-testid="permissions">
      {shown.map((p) => (
        <li key={p.id} data-permission={p.id}>
          <span class="badge warn">{p.permission}</span> <span>{p.title ?? ''}</span>{' '}
          {p.patterns.length > 0 && <code>{p.patterns.join(' · ')}</code>}
          {can(principal, 'operator') && (
            <span class="actions">
              <button
                type="button"
                disabled={busy !== null}
                onClick={() => answer(p.id, 'once')}
                data-action="approve"
              >
                Approve
              </button>
              <button
                type="button"
                disabled={busy !== null}
                onClick={() => answer(p.id, 'always')}
                data-action="always"
              >
                Always
              </button>
              <button
                type="button"
                class="danger"
                disabled={busy !== null}
                onClick={() => answer(p.id, 'reject')}
                data-action="deny"
              >
                Deny
              </button>
            </span>
          )}
        </li>
      ))}
    </ul>
  );
}
