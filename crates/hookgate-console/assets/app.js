// The console's shell: sign-in, navigation and the page router.
//
// Routes live in the URL's fragment (`#/events?source=stripe`), so the
// gateway serves one page and nothing of the route (nor the token, which
// never enters a URL) reaches a server log. Each page module exports
// `render(ctx)`; see PAGES below to add one.

import { ApiError, api, session } from './api.js';
import { h, replace } from './dom.js';
import * as overview from './pages/overview.js';
import * as events from './pages/events.js';
import * as eventPage from './pages/event.js';
import * as subscriptions from './pages/subscriptions.js';
import * as deadLetters from './pages/dead_letters.js';
import * as audit from './pages/audit.js';
import * as ordering from './pages/ordering.js';

const ROLES = ['viewer', 'operator', 'admin'];

// The pages, in navigation order. `role` is the least role that may open
// it (the API enforces the same; hiding only spares a 403). A page is a
// module exporting `render(ctx)` and one entry here.
const PAGES = [
  { path: 'overview', title: 'Overview', role: 'viewer', page: overview },
  { path: 'events', title: 'Events', role: 'viewer', page: events },
  { path: 'subscriptions', title: 'Subscriptions', role: 'viewer', page: subscriptions },
  { path: 'dead-letters', title: 'Dead letters', role: 'viewer', page: deadLetters },
  { path: 'ordering', title: 'Ordering', role: 'viewer', page: ordering },
  { path: 'audit', title: 'Audit log', role: 'admin', page: audit },
];

const root = document.getElementById('app');
let me = null;
let timers = [];

function atLeast(role) {
  return me !== null && ROLES.indexOf(me.role) >= ROLES.indexOf(role);
}

function stopTimers() {
  for (const t of timers) clearInterval(t);
  timers = [];
}

/** A message at the top of the page (`kind`: info or error). */
function notify(text, kind = 'info') {
  const box = document.getElementById('notice');
  if (!box) return;
  replace(box, h('div', { class: `notice notice-${kind}`, role: 'status', 'data-test': `notice-${kind}`, text }));
}

function signInForm(message) {
  stopTimers();
  me = null;
  const input = h('input', {
    type: 'password', name: 'token', id: 'token', autocomplete: 'off',
    required: true, 'data-test': 'token', placeholder: 'admin API bearer token',
  });
  const form = h('form', { class: 'signin', 'data-test': 'signin' },
    h('h1', { text: 'Hookgate console' }),
    h('label', { for: 'token', text: 'Admin API token' }),
    input,
    h('button', { type: 'submit', 'data-test': 'signin-submit', text: 'Sign in' }),
    message ? h('p', { class: 'notice notice-error', 'data-test': 'signin-error', text: message }) : null,
    h('p', { class: 'hint', text: 'The token stays in this tab (sessionStorage) and is sent only in the Authorization header to this gateway.' }));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const token = input.value.trim();
    if (!token) return;
    session.signIn(token);
    await start();
  });
  replace(root, form);
  input.focus();
}

function shell() {
  const nav = h('nav', { 'data-test': 'nav' },
    PAGES.filter((p) => atLeast(p.role)).map((p) =>
      h('a', { href: `#/${p.path}`, 'data-nav': p.path, text: p.title })));
  const who = h('span', {
    class: 'who', 'data-test': 'whoami',
    text: `${me.name} · ${me.role}${me.tenants ? ` · tenants ${me.tenants.join(', ')}` : ''}`,
  });
  const out = h('button', {
    type: 'button', class: 'secondary', 'data-test': 'signout', text: 'Sign out',
    onclick: () => { session.signOut(); location.hash = ''; signInForm(); },
  });
  replace(root,
    h('header', {}, h('strong', { class: 'brand', text: 'Hookgate' }), nav, who, out),
    h('div', { id: 'notice' }),
    h('main', { id: 'main', 'data-test': 'main' }));
}

/** `#/events/abc?x=1` → `{ parts: ['events', 'abc'], params: URLSearchParams }`. */
function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '');
  const [path, q] = raw.split('?', 2);
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  return { parts, params: new URLSearchParams(q ?? '') };
}

async function route() {
  if (!me) return;
  stopTimers();
  const main = document.getElementById('main');
  replace(document.getElementById('notice'));
  const { parts, params } = parseHash();
  let entry = PAGES.find((p) => p.path === parts[0]);
  let page = entry?.page;
  if (parts[0] === 'events' && parts.length > 1) page = eventPage;
  if (!entry) {
    entry = PAGES[0];
    page = entry.page;
  }
  for (const a of document.querySelectorAll('nav a')) {
    a.classList.toggle('active', a.dataset.nav === entry.path);
  }
  if (!atLeast(entry.role)) {
    replace(main, h('p', { class: 'notice notice-error', text: `${entry.title} needs role ${entry.role}.` }));
    return;
  }
  replace(main, h('p', { class: 'loading', text: 'Loading…' }));
  const ctx = {
    main, me, parts, params, notify,
    can: atLeast,
    go: (hash) => { location.hash = hash; },
    every: (ms, fn) => { timers.push(setInterval(fn, ms)); },
    fail: (err) => failed(main, err),
  };
  try {
    await page.render(ctx);
  } catch (err) {
    failed(main, err);
  }
}

function failed(main, err) {
  if (err instanceof ApiError && err.status === 401) {
    session.signOut();
    signInForm('The token was not accepted (401). Sign in again.');
    return;
  }
  const text = err instanceof ApiError ? `${err.status || ''} ${err.code}: ${err.message}` : String(err);
  replace(main, h('p', { class: 'notice notice-error', 'data-test': 'page-error', text: text.trim() }));
}

async function start() {
  if (!session.token()) {
    signInForm();
    return;
  }
  try {
    me = await api('/admin/v1/whoami');
  } catch (err) {
    session.signOut();
    const why = err instanceof ApiError && err.status === 401
      ? 'That token is not one this gateway knows (401).'
      : `Sign-in failed: ${err.message}`;
    signInForm(why);
    return;
  }
  shell();
  if (!location.hash) location.hash = '#/overview';
  else await route();
}

window.addEventListener('hashchange', route);
start();
