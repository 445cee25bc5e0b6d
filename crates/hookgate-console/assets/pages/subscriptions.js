// Subscriptions: state, backlog, dead letters, breakers and, for those
// with an ordering key, per route the deliveries held behind an earlier
// event of their key and the keys blocked (linked to the Ordering page);
// operators pause and resume (a tenant token lists its tenants'
// subscriptions only).

import { all, api } from '../api.js';
import { badge, h, replace, table } from '../dom.js';
import { describe } from './ordering.js';

export async function render(ctx) {
  const list = await all('/admin/v1/subscriptions');
  const columns = ['subscription', 'tenant', 'url', 'state', 'queue', 'dead letters', 'breakers', 'ordering'];
  if (ctx.can('operator')) columns.push('');
  replace(ctx.main, h('h1', { text: 'Subscriptions' }),
    table(columns, list, (s) => h('tr', { 'data-subscription': s.id },
      h('td', { text: s.id }),
      h('td', { text: s.tenant ?? '—' }),
      h('td', { class: 'mono', text: s.url }),
      h('td', {}, s.paused ? badge('paused') : badge('active')),
      h('td', { class: 'num', text: s.queue_depth }),
      h('td', { class: 'num' }, h('a', { href: `#/dead-letters?subscription=${encodeURIComponent(s.id)}`, text: s.dlq_depth })),
      h('td', {}, s.routes.map((r) => h('span', { class: `pill breaker-${r.breaker}`, text: `${r.source}: ${r.breaker}` }))),
      h('td', { 'data-test': 'ordering-cell' }, ordering(s)),
      ctx.can('operator') ? h('td', {}, toggle(ctx, s)) : null),
    'subscriptions-table'));
}

/** `—` when unordered; else the key and per route `held · blocked`. */
function ordering(s) {
  if (!s.ordering) return '—';
  const blocked = s.routes.reduce((n, r) => n + (r.blocked_keys ?? 0), 0);
  return [
    h('span', { class: 'hint', text: describe(s.ordering) }),
    h('br'),
    s.routes.map((r) => h('span', {
      class: `pill${r.blocked_keys ? ' blocked' : ''}`, 'data-route': r.source,
      text: `${r.source}: ${r.held ?? 0} held · ${r.blocked_keys ?? 0} blocked`,
    })),
    blocked ? h('a', { href: `#/ordering?subscription=${encodeURIComponent(s.id)}`, 'data-test': 'blocked-link', text: `${blocked} blocked key${blocked === 1 ? '' : 's'} →` }) : null,
  ];
}

function toggle(ctx, s) {
  const action = s.paused ? 'resume' : 'pause';
  return h('button', {
    type: 'button', class: 'secondary', 'data-test': action, text: s.paused ? 'Resume' : 'Pause',
    onclick: async (e) => {
      e.target.disabled = true;
      try {
        await api(`/admin/v1/subscriptions/${encodeURIComponent(s.id)}/${action}`, { method: 'POST', body: {} });
        await render(ctx);
        ctx.notify(`${s.id}: ${action === 'pause' ? 'paused' : 'resumed'}.`);
      } catch (err) {
        e.target.disabled = false;
        ctx.notify(`${action} failed: ${err.message}`, 'error');
      }
    },
  });
}
