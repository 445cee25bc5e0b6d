// The audit log (role admin): every mutating call, newest pages by cursor.

import { api, query } from '../api.js';
import { h, replace, table, when } from '../dom.js';

export async function render(ctx) {
  const list = h('section', {});
  const pager = h('div', { class: 'pager' });
  replace(ctx.main, h('h1', { text: 'Audit log' }), list, pager);
  const cursors = [''];
  async function load(i) {
    const page = await api(`/admin/v1/audit${query({ limit: 100, cursor: cursors[i] })}`);
    replace(list, table(['at', 'actor', 'role', 'action', 'target', 'count', 'filter', 'request id'], page.items, (r) =>
      h('tr', {},
        h('td', {}, when(r.at)), h('td', { text: r.actor }), h('td', { text: r.role }),
        h('td', { text: r.action }), h('td', { text: r.target }), h('td', { class: 'num', text: r.count }),
        h('td', {}, h('code', { text: JSON.stringify(r.filter) })), h('td', { class: 'mono', text: r.request_id })),
    'audit-table'));
    if (page.next_cursor) cursors[i + 1] = page.next_cursor;
    replace(pager,
      h('button', { type: 'button', class: 'secondary', disabled: i === 0, text: '← Previous', onclick: () => load(i - 1).catch(ctx.fail) }),
      h('span', { class: 'hint', text: `page ${i + 1}` }),
      h('button', { type: 'button', class: 'secondary', disabled: !page.next_cursor, text: 'Next →', onclick: () => load(i + 1).catch(ctx.fail) }));
  }
  await load(0);
}
