// The admin API, called with the signed-in token.
//
// The token lives in sessionStorage (gone with the tab) and travels in the
// Authorization header only: never in a URL (it would reach logs and
// history) and never in a cookie (a cookie would be sent by cross-site
// requests too; without one there is nothing to forge, so no CSRF).

const KEY = 'hookgate.console.token';

export const session = {
  token: () => sessionStorage.getItem(KEY),
  signIn: (token) => sessionStorage.setItem(KEY, token),
  signOut: () => sessionStorage.removeItem(KEY),
};

/** An answer other than 2xx, with the API's `{error, message}`. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code);
    this.status = status;
    this.code = code;
  }
}

/** Calls `path` (`/admin/v1/...`) with the token; JSON in, JSON out. */
export async function api(path, { method = 'GET', body } = {}) {
  const headers = { Accept: 'application/json', Authorization: `Bearer ${session.token() ?? ''}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let resp;
  try {
    resp = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'omit',
      cache: 'no-store',
      redirect: 'error',
    });
  } catch (err) {
    throw new ApiError(0, 'unreachable', `the gateway did not answer (${err.message})`);
  }
  let data = null;
  try {
    data = await resp.json();
  } catch {
    data = null;
  }
  if (!resp.ok) {
    throw new ApiError(resp.status, data?.error ?? `http_${resp.status}`,
      data?.message ?? `${resp.status} ${resp.statusText}`);
  }
  return data;
}

/** A query string of the non-empty values (`?a=1&b=2`, or ''). */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** Every page of a list (bounded), for small lists such as subscriptions. */
export async function all(path, max = 20) {
  const items = [];
  let cursor;
  for (let i = 0; i < max; i += 1) {
    const sep = path.includes('?') ? '&' : '?';
    const page = await api(`${path}${sep}limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    items.push(...page.items);
    if (!page.next_cursor) break;
    cursor = page.next_cursor;
  }
  return items;
}

/**
 * The Prometheus text of `/metrics` (no token needed) as samples
 * `{name, labels, value}`.
 */
export async function metrics() {
  const resp = await fetch('/metrics', { credentials: 'omit', cache: 'no-store' });
  if (!resp.ok) throw new ApiError(resp.status, 'metrics', `/metrics answered ${resp.status}`);
  const samples = [];
  for (const line of (await resp.text()).split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
      labels[l[1]] = l[2].replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));
    }
    samples.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return samples;
}
