// One event: its facts, its payload (as text), and per subscription the
// delivery with every attempt (status code, error, duration, the start of
// the subscriber's answer). Operators may redeliver.

import { api } from '../api.js';
import { badge, facts, h, replace, table, when } from '../dom.js';

export async function render(ctx) {
  const id = ctx.parts[1];
  const ev = await api(`/admin/v1/events/${encodeURIComponent(id)}`);
  const payload = h('pre', { class: 'payload', 'data-test': 'payload', text: JSON.stringify(ev.data, null, 2) });
  const deliveries = ev.deliveries.map((d) => delivery(ctx, ev, d));
  replace(ctx.main,
    h('p', {}, h('a', { href: '#/events', text: '← Events' })),
    h('h1', {}, 'Event ', h('span', { class: 'mono', 'data-test': 'event-id', text: ev.id })),
    facts([
      ['source', ev.source], ['type', ev.type], ['time', ev.time], ['subject', ev.subject],
      ['received', ev.received_at],
    ], 'event-facts'),
    h('h2', { text: 'Payload' }), payload,
    h('h2', { text: 'Deliveries' }),
    deliveries.length ? deliveries : h('p', { class: 'hint', text: 'No subscription of yours receives this event.' }));
}

function delivery(ctx, ev, d) {
  const actions = h('span', { class: 'actions' });
  if (ctx.can('operator')) {
    actions.append(h('button', {
      type: 'button', 'data-test': 'redeliver', text: 'Redeliver',
      onclick: async (e) => {
        e.target.disabled = true;
        try {
          await api(`/admin/v1/events/${encodeURIComponent(ev.id)}/redeliver`,
            { method: 'POST', body: { subscription: d.subscription } });
          await render(ctx);
          ctx.notify(`Queued ${ev.id} again for ${d.subscription}.`);
        } catch (err) {
          e.target.disabled = false;
          ctx.notify(`Redeliver failed: ${err.message}`, 'error');
        }
      },
    }));
  }
  const attempts = table(['#', 'at', 'status', 'error', 'duration', 'answer'], d.attempts, (a) =>
    h('tr', { 'data-attempt': a.n },
      h('td', { class: 'num', text: a.n }),
      h('td', {}, when(a.at)),
      h('td', { class: 'num', 'data-field': 'status_code', text: a.status_code ?? '—' }),
      h('td', { 'data-field': 'error', text: a.error ?? '' }),
      h('td', { class: 'num', text: `${a.duration_ms} ms` }),
      h('td', {}, a.response ? h('code', { class: 'answer', text: a.response }) : '')),
  'attempts');
  return h('section', { class: 'delivery', 'data-test': 'delivery', 'data-subscription': d.subscription },
    h('h3', {}, d.subscription, ' ', badge(d.status), d.reason ? h('span', { class: 'hint', text: ` ${d.reason}` }) : null, actions),
    attempts);
}
