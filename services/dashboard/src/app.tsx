import { useEffect, useMemo, useState } from 'preact/hooks';
import { ApiError, createApi } from './api.ts';
import { type Principal, tokenStore } from './auth.ts';
import { Ctx } from './context.ts';
import { StreamStatus } from './event-stream.ts';
import { type Live, startLive } from './live.ts';
import { href, useRoute } from './router.ts';
import { useStore } from './store.ts';
import { AuditView } from './views/audit.tsx';
import { CostView } from './views/cost.tsx';
import { Overview } from './views/overview.tsx';
import { PoliciesView } from './views/policies.tsx';
import { SessionDetail } from './views/session-detail.tsx';
import { SessionsView } from './views/sessions.tsx';
import { SignIn } from './views/sign-in.tsx';

interface Signed {
  token: string;
  principal: Principal;
}

/** Asks the API who the token belongs to: the one check that the token works at all. */
async function whoAmI(token: string): Promise<Principal> {
  const { data } = await createApi(token).get<Principal>('api/v1/me');
  return data;
}

export function App() {
  const [signed, setSigned] = useState<Signed | null>(null);
  const [checking, setChecking] = useState(() => tokenStore.load() !== null);
  const [error, setError] = useState<string | undefined>(undefined);

  useEffect(() => {
    const token = tokenStore.load();
    if (token === null) return;
    whoAmI(token).then(
      (principal) => {
        setSigned({ token, principal });
        setChecking(false);
      },
      (err: unknown) => {
        if (err instanceof ApiError && (err.status === 401 || err.status === 403)) tokenStore.clear();
        setError(err instanceof ApiError ? err.message : String(err));
        setChecking(false);
      },
    );
  }, []);

  const signIn = async (token: string): Promise<void> => {
    const principal = await whoAmI(token);
    tokenStore.save(token);
    setError(undefined);
    setSigned({ token, principal });
  };
  const signOut = (): void => {
    tokenStore.clear();
    setSigned(null);
  };

  if (checking) return <div class="center muted">Checking the stored token…</div>;
  if (signed === null) return <SignIn onSignIn={signIn} initialError={error} />;
  return <Shell signed={signed} onSignOut={signOut} />;
}

function Shell({ signed, onSignOut }: { signed: Signed; onSignOut(): void }) {
  const api = useMemo(() => createApi(signed.token), [signed.token]);
  const [live, setLive] = useState<Live | null>(null);
  const [message, setMessage] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);
  useEffect(() => {
    const l = startLive(api, signed.token);
    setLive(l);
    return () => l.close();
  }, [api, signed.token]);
  useEffect(() => {
    if (message === null) return;
    const t = setTimeout(() => setMessage(null), message.kind === 'ok' ? 4000 : 10000);
    return () => clearTimeout(t);
  }, [message]);
  if (live === null) return null;
  const ctx = {
    api,
    principal: signed.principal,
    live,
    notify: (kind: 'ok' | 'error', text: string) => setMessage({ kind, text }),
  };
  return (
    <Ctx.Provider value={ctx}>
      <Header live={live} principal={signed.principal} onSignOut={onSignOut} />
      {message !== null && (
        <div
          class={`message ${message.kind}`}
          role={message.kind === 'error' ? 'alert' : 'status'}
          data-testid="message"
        >
          {message.text}
        </div>
      )}
      <main>
        <Routed />
      </main>
    </Ctx.Provider>
  );
}

const NAV = [
  ['', 'Overview'],
  ['sessions', 'Sessions'],
  ['cost', 'Cost'],
  ['policies', 'Policies'],
  ['audit', 'Audit'],
] as const;

function Header({ live, principal, onSignOut }: { live: Live; principal: Principal; onSignOut(): void }) {
  const route = useRoute();
  const status = useStore(live.store, (s) => s.status);
  const detail = useStore(live.store, (s) => s.detail);
  const current = route.view === 'session' ? 'sessions' : route.view;
  const label =
    status === StreamStatus.LIVE
      ? 'live'
      : status === StreamStatus.RECONNECTING
        ? 'reconnecting…'
        : status === StreamStatus.REFUSED
          ? 'stream refused'
          : status === StreamStatus.CONNECTING
            ? 'connecting…'
            : 'closed';
  return (
    <header>
      <a class="brand" href="#/">
        HAL-O-SWARM
      </a>
      <nav>
        {NAV.map(([view, text]) => (
          <a key={view} href={href(view)} class={current === view ? 'active' : ''}>
            {text}
          </a>
        ))}
      </nav>
      <span class={`stream ${status}`} data-testid="stream-status" data-status={status} title={detail ?? ''}>
        {label}
      </span>
      <span class="who" data-testid="principal" data-role={principal.role}>
        {principal.name} · {principal.role}
      </span>
      <button type="button" class="link" onClick={onSignOut}>
        Sign out
      </button>
    </header>
  );
}

function Routed() {
  const route = useRoute();
  switch (route.view) {
    case 'sessions':
      return <SessionsView params={route.params} />;
    case 'session':
      return <SessionDetail id={route.arg} />;
    case 'cost':
      return <CostView params={route.params} />;
    case 'policies':
      return <PoliciesView />;
    case 'audit':
      return <AuditView params={route.params} />;
    default:
      return <Overview />;
  }
}
