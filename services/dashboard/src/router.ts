import { useEffect, useState } from 'preact/hooks';

export interface Route {
  /** First path word: '' (overview), 'sessions', 'session', 'cost', 'policies', 'audit'. */
  view: string;
  /** The rest of the path, decoded (a session id). */
  arg: string;
  params: URLSearchParams;
}

/** Routes live in the fragment (`#/session/ses_1`): the server only ever serves `/`. */
export function parseRoute(hash: string): Route {
  const raw = hash.replace(/^#\/?/, '');
  const [path = '', query = ''] = raw.split('?', 2);
  const [view = '', ...rest] = path.split('/');
  return { view, arg: rest.map((p) => decodeURIComponent(p)).join('/'), params: new URLSearchParams(query) };
}

export function href(view: string, arg?: string, params?: Record<string, string | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params ?? {})) if (v !== undefined && v !== '') q.set(k, v);
  const qs = q.toString();
  return `#/${view}${arg === undefined ? '' : `/${encodeURIComponent(arg)}`}${qs === '' ? '' : `?${qs}`}`;
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const on = () => setRoute(parseRoute(location.hash));
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return route;
}
