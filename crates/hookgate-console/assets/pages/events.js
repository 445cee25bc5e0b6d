// Events: newest first, filtered by source, type and receive time, paged
// with the API's next_cursor (the cursors seen are kept so "previous" works).

import { api, query } from '../api.js';
import { field, formValues, h, replace, table, toRfc3339, when } from '../dom.js';

const FILTERS = ['source', 'type', 'since', 'until'];

export async function render(ctx) {
  const p = ctx.params;
  const filters = Object.fromEntries(FILTERS.map((k) => [k, p.get(k) ?? '']));
  const form = h('form', { class: 'filters', 'data-test': 'events-filter' },
    field('Source', 'source', filters.source),
    field('Type (glob)', 'type', filters.type, { placeholder: 'payment.*' }),
    field('Received since', 'since', filters.since, { placeholder: '2026-01-01T00:00:00Z' }),
    field('until', 'until', filters.until),
    h('button', { type: 'submit', text: 'Apply' }));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const v = formValues(form);
    v.since = toRfc3339(v.since);
    v.until = toRfc3339(v.until);
    ctx.go(`#/events${query(v)}`);
  });
  const list = h('section', {});
  const pager = h('div', { class: 'pager' });
  replace(ctx.main, h('h1', { text: 'Events' }), form, list, pager);

  const cursors = [''];
  async function load(i) {
    const page = await api(`/admin/v1/events${query({ ...filters, order: 'newest', limit: 50, cursor: cursors[i] })}`);
    replace(list, table(['received', 'source', 'type', 'subject', 'event id'], page.items, (ev) =>
      h('tr', { 'data-event': ev.id },
        h('td', {}, when(ev.received_at)),
        h('td', { text: ev.source }),
        h('td', { text: ev.type }),
        h('td', { text: ev.subject ?? '—' }),
        h('td', {}, h('a', { href: `#/events/${encodeURIComponent(ev.id)}`, class: 'mono', text: ev.id }))),
    'events-table'));
    if (page.next_cursor) cursors[i + 1] = page.next_cursor;
    replace(pager,
      h('button', { type: 'button', class: 'secondary', disabled: i === 0, text: '← Newer', onclick: () => load(i - 1).catch(ctx.fail) }),
      h('span', { class: 'hint', text: `page ${i + 1}` }),
      h('button', {
        type: 'button', class: 'secondary', 'data-test': 'events-next', disabled: !page.next_cursor,
        text: 'Older →', onclick: () => load(i + 1).catch(ctx.fail),
      }));
  }
  await load(0);
}
