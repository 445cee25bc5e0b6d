// Subscriptions: state, backlog, dead letters and breakers; operators pause
// and resume (a tenant token lists its tenants' subscriptions only).

import { all, api } from '../api.js';
import { badge, h, replace, table } from '../dom.js';

export async function render(ctx) {
  const list = await all('/admin/v1/subscriptions');
  const columns = ['subscription', 'tenant', 'url', 'state', 'queue', 'dead letters', 'breakers'];
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
      ctx.can('operator') ? h('td', {}, toggle(ctx, s)) : null),
    'subscriptions-table'));
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
