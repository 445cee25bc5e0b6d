// Ordering: per subscription with `ordering` (of those the token sees),
// its blocked keys, the longest blocked first: the key, the head delivery
// every later event of the key waits behind (its event, attempts, last
// answer, since when it is first) and how many wait. Operators may
// redeliver the head from here (the event's redeliver API: a fresh
// attempt budget, same place in line). `#/ordering?subscription=ledger`
// shows that subscription only.

import { all, api, query } from '../api.js';
import { h, replace, table, when } from '../dom.js';

/** The most keys listed per subscription (the API's own maximum). */
const LIMIT = 500;

/** `ordering` as configured, as text. */
export function describe(ordering) {
  if (!ordering) return 'unordered';
  if (ordering === 'subject') return 'subject';
  if (ordering.pointer !== undefined) return `pointer ${ordering.pointer}`;
  if (ordering.header !== undefined) return `header ${ordering.header}`;
  return JSON.stringify(ordering);
}

export async function render(ctx) {
  const only = ctx.params.get('subscription');
  const subs = (await all('/admin/v1/subscriptions'))
    .filter((s) => s.ordering && (!only || s.id === only));
  const refresh = h('button', {
    type: 'button', class: 'secondary', 'data-test': 'ordering-refresh', text: 'Refresh',
    onclick: () => render(ctx).catch(ctx.fail),
  });
  if (subs.length === 0) {
    replace(ctx.main, h('h1', { text: 'Ordering' }),
      h('p', { class: 'hint', 'data-test': 'ordering-none', text: only
        ? `${only} has no ordering key configured, or is not one of this token's subscriptions.`
        : 'No subscription of this token has an ordering key configured.' }));
    return;
  }
  const lists = await Promise.all(subs.map((s) =>
    api(`/admin/v1/subscriptions/${encodeURIComponent(s.id)}/ordering${query({ limit: LIMIT })}`)));
  replace(ctx.main,
    h('h1', {}, 'Ordering ', refresh),
    h('p', { class: 'hint', text: 'A key is blocked while its first delivery waits for a retry; the key\'s later events wait behind it. Fix the subscriber (the retry then goes through), redeliver the head now, or let it be dead-lettered, which releases the key.' }),
    subs.map((s, i) => section(ctx, s, lists[i].items)));
}

function section(ctx, s, items) {
  const columns = ['source', 'key', 'head event', 'attempts', 'last status', 'last error', 'blocked since', 'waiting'];
  if (ctx.can('operator')) columns.push('');
  const counts = s.routes.map((r) => h('span', {
    class: 'pill', 'data-route': r.source,
    text: `${r.source}: ${r.held ?? 0} held · ${r.blocked_keys ?? 0} blocked`,
  }));
  return h('section', { 'data-test': 'ordering-subscription', 'data-subscription': s.id },
    h('h2', {}, s.id, ' ', h('span', { class: 'hint', text: `ordered by ${describe(s.ordering)}` })),
    h('p', {}, counts),
    table(columns, items, (k) => h('tr', { 'data-test': 'blocked-key', 'data-event': k.head.event_id },
      h('td', { text: k.source }),
      h('td', { class: 'mono', 'data-field': 'key', text: k.key }),
      h('td', {}, h('a', { href: `#/events/${encodeURIComponent(k.head.event_id)}`, class: 'mono', 'data-field': 'head', text: k.head.event_id })),
      h('td', { class: 'num', 'data-field': 'attempts', text: k.head.attempts }),
      h('td', { class: 'num', 'data-field': 'last_status_code', text: k.head.last_status_code ?? '—' }),
      h('td', { 'data-field': 'last_error', text: k.head.last_error ?? '' }),
      h('td', {}, when(k.head.since)),
      h('td', { class: 'num', 'data-field': 'waiting', text: k.waiting }),
      ctx.can('operator') ? h('td', {}, redeliver(ctx, s.id, k)) : null),
    'ordering-table'));
}

function redeliver(ctx, subscription, k) {
  return h('button', {
    type: 'button', 'data-test': 'redeliver-head', text: 'Redeliver head',
    onclick: async (e) => {
      e.target.disabled = true;
      try {
        await api(`/admin/v1/events/${encodeURIComponent(k.head.event_id)}/redeliver`,
          { method: 'POST', body: { subscription } });
        await render(ctx);
        ctx.notify(`Queued ${k.head.event_id} again for ${subscription}.`);
      } catch (err) {
        e.target.disabled = false;
        ctx.notify(`Redeliver failed: ${err.message}`, 'error');
      }
    },
  });
}
