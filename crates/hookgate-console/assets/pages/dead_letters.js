// Dead letters of one subscription, filtered by type, reason, source and
// time. Operators select entries (or take the whole filter) and replay
// them: the console first asks the API for a dry run, shows how many
// match, and replays only once that count is confirmed.

import { all, api, query } from '../api.js';
import { field, formValues, h, replace, table, toRfc3339, when } from '../dom.js';

const FILTERS = ['type', 'reason', 'source', 'since', 'until'];

export async function render(ctx) {
  const subs = await all('/admin/v1/subscriptions');
  if (subs.length === 0) {
    replace(ctx.main, h('h1', { text: 'Dead letters' }), h('p', { class: 'hint', text: 'No subscription to show.' }));
    return;
  }
  const p = ctx.params;
  const sub = subs.find((s) => s.id === p.get('subscription'))?.id ?? subs[0].id;
  const filter = Object.fromEntries(FILTERS.map((k) => [k, p.get(k) ?? '']).filter(([, v]) => v));

  const select = h('select', { name: 'subscription', 'data-test': 'dlq-subscription' },
    subs.map((s) => h('option', { value: s.id, selected: s.id === sub, text: `${s.id} (${s.dlq_depth})` })));
  const form = h('form', { class: 'filters', 'data-test': 'dlq-filter' },
    h('label', { class: 'field' }, h('span', { text: 'Subscription' }), select),
    field('Type (glob)', 'type', filter.type),
    field('Reason (prefix)', 'reason', filter.reason, { placeholder: 'status 4' }),
    field('Source', 'source', filter.source),
    field('Dead since', 'since', filter.since),
    field('until', 'until', filter.until),
    h('button', { type: 'submit', text: 'Apply' }));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const v = formValues(form);
    v.since = toRfc3339(v.since);
    v.until = toRfc3339(v.until);
    ctx.go(`#/dead-letters${query(v)}`);
  });
  select.addEventListener('change', () => ctx.go(`#/dead-letters${query({ subscription: select.value })}`));

  const list = h('section', {});
  const pager = h('div', { class: 'pager' });
  const confirmBox = h('div', { 'data-test': 'replay-confirm-box' });
  const actions = h('div', { class: 'actions' });
  replace(ctx.main, h('h1', { text: 'Dead letters' }), form, actions, confirmBox, list, pager);

  const selected = new Set();
  const selectedText = h('span', { class: 'hint', 'data-test': 'dlq-selected' });
  const showSelected = () => { selectedText.textContent = `${selected.size} selected`; };
  const base = `/admin/v1/subscriptions/${encodeURIComponent(sub)}/dead-letters`;

  if (ctx.can('operator')) {
    actions.append(
      h('button', { type: 'button', 'data-test': 'replay-selected', text: 'Replay selected…', onclick: () => ask({ event_ids: [...selected] }) }),
      h('button', { type: 'button', class: 'secondary', 'data-test': 'replay-filter', text: 'Replay all matching the filter…', onclick: () => ask({ filter }) }));
  }

  // Dry run first: the count the operator confirms is the API's own.
  async function ask(request) {
    replace(confirmBox);
    if (request.event_ids && request.event_ids.length === 0) {
      ctx.notify('Select dead letters first.', 'error');
      return;
    }
    try {
      const dry = await api(`${base}/replay`, { method: 'POST', body: { ...request, dry_run: true } });
      const go = h('button', {
        type: 'button', 'data-test': 'replay-confirm', disabled: dry.matched === 0,
        text: `Replay ${dry.matched}`,
        onclick: async () => {
          go.disabled = true;
          try {
            const done = await api(`${base}/replay`, { method: 'POST', body: request });
            await render(ctx);
            ctx.notify(`Replayed ${done.replayed} of ${done.matched} dead letters of ${sub}.`);
          } catch (err) {
            ctx.notify(`Replay failed: ${err.message}`, 'error');
          }
        },
      });
      replace(confirmBox, h('div', { class: 'confirm', role: 'alertdialog' },
        h('p', { 'data-test': 'replay-dry-run', text: `${dry.matched} dead letter${dry.matched === 1 ? '' : 's'} of ${sub} match. Replay them now (attempt budget reset, same event ids)?` }),
        go,
        h('button', { type: 'button', class: 'secondary', 'data-test': 'replay-cancel', text: 'Cancel', onclick: () => replace(confirmBox) })));
    } catch (err) {
      ctx.notify(`Dry run failed: ${err.message}`, 'error');
    }
  }

  const cursors = [''];
  async function load(i) {
    const page = await api(`${base}${query({ ...filter, limit: 50, cursor: cursors[i] })}`);
    const columns = ['event id', 'source', 'type', 'reason', 'last status', 'attempts', 'dead at'];
    if (ctx.can('operator')) columns.unshift('');
    replace(list, table(columns, page.items, (d) => h('tr', { 'data-event': d.event_id },
      ctx.can('operator') ? h('td', {}, h('input', {
        type: 'checkbox', 'data-test': 'dlq-select', checked: selected.has(d.event_id),
        'aria-label': `select ${d.event_id}`,
        onchange: (e) => {
          if (e.target.checked) selected.add(d.event_id);
          else selected.delete(d.event_id);
          showSelected();
        },
      })) : null,
      h('td', {}, h('a', { href: `#/events/${encodeURIComponent(d.event_id)}`, class: 'mono', text: d.event_id })),
      h('td', { text: d.source }),
      h('td', { text: d.type ?? '—' }),
      h('td', { text: d.reason ?? '—' }),
      h('td', { class: 'num', text: d.last_status_code ?? '—' }),
      h('td', { class: 'num', text: d.attempts }),
      h('td', {}, when(d.dead_at))),
    'dlq-table'));
    showSelected();
    if (page.next_cursor) cursors[i + 1] = page.next_cursor;
    replace(pager,
      h('button', { type: 'button', class: 'secondary', disabled: i === 0, text: '← Previous', onclick: () => load(i - 1).catch(ctx.fail) }),
      h('span', { class: 'hint', text: `page ${i + 1}` }),
      ctx.can('operator') ? selectedText : null,
      h('button', { type: 'button', class: 'secondary', disabled: !page.next_cursor, text: 'Next →', onclick: () => load(i + 1).catch(ctx.fail) }));
  }
  await load(0);
}
