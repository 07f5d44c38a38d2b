import { useState } from 'preact/hooks';
import { ApiError } from '../api.ts';

/** The token goes from this field to session storage and the Authorization header, nowhere else. */
export function SignIn({
  onSignIn,
  initialError,
}: {
  onSignIn(token: string): Promise<void>;
  initialError?: string | undefined;
}) {
  const [token, setToken] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(initialError);
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    const t = token.trim();
    if (t === '') return;
    setBusy(true);
    try {
      await onSignIn(t);
    } catch (err) {
      setError(err instanceof ApiError ? `${err.code}: ${err.message}` : String(err));
      setBusy(false);
    }
  };
  return (
    <div class="center">
      <form class="card signin" onSubmit={submit} data-testid="sign-in">
        <h1>HAL-O-SWARM</h1>
        <p class="muted">Sign in with an API token (server.auth_token or one of security.api_tokens).</p>
        <label>
          API token
          <input
            type="password"
            name="token"
            autocomplete="off"
            spellcheck={false}
            value={token}
            onInput={(e) => setToken((e.target as HTMLInputElement).value)}
            data-testid="token"
          />
        </label>
        <button type="submit" disabled={busy} data-testid="sign-in-submit">
          {busy ? 'Checking…' : 'Sign in'}
        </button>
        {error !== undefined && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        <p class="muted small">
          The token is kept in this tab's session storage only; closing the tab forgets it.
        </p>
      </form>
    </div>
  );
}
