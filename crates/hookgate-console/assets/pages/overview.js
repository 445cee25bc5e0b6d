// Overview: per source ingest rate and outcomes (from /metrics), per
// subscription backlog, oldest waiting, dead letters and breakers (from the
// subscriptions API, so a tenant token sees its own only). Refreshes every
// 5 s while open.

import { all, metrics } from '../api.js';
import { badge, h, replace, table } from '../dom.js';

const REFRESH_MS = 5000;
// The previous ingest counters, to turn totals into a rate.
let previous = null;

function ingestBySource(samples) {
  const by = new Map();
  for (const s of samples) {
    if (s.name !== 'hookgate_ingest_requests_total') continue;
    const src = s.labels.source ?? '?';
    if (!by.has(src)) by.set(src, { total: 0, outcomes: {} });
    const e = by.get(src);
    e.total += s.value;
    e.outcomes[s.labels.outcome ?? '?'] = (e.outcomes[s.labels.outcome ?? '?'] ?? 0) + s.value;
  }
  return by;
}

function gauge(samples, name, subscription) {
  const s = samples.find((x) => x.name === name && x.labels.subscription === subscription);
  return s ? s.value : undefined;
}

function age(seconds) {
  if (seconds === undefined) return '—';
  if (seconds < 1) return '0 s';
  if (seconds < 120) return `${Math.round(seconds)} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

export async function render(ctx) {
  const stamp = h('span', { class: 'hint' });
  const sources = h('section', { 'data-test': 'overview-sources' });
  const subs = h('section', { 'data-test': 'overview-subscriptions' });
  replace(ctx.main, h('h1', {}, 'Overview ', stamp), sources, subs);

  async function refresh() {
    const [samples, list] = await Promise.all([
      metrics().catch(() => []),
      all('/admin/v1/subscriptions'),
    ]);
    const now = Date.now();
    const by = ingestBySource(samples);
    const rows = [...by.entries()].sort(([a], [b]) => a.localeCompare(b));
    replace(sources, h('h2', { text: 'Ingest by source' }),
      table(['source', 'requests/s', 'requests', 'outcomes'], rows, ([src, e]) => {
        const before = previous?.by.get(src);
        const rate = before && now > previous.at
          ? ((e.total - before.total) * 1000) / (now - previous.at) : undefined;
        const outcomes = Object.entries(e.outcomes).filter(([, n]) => n > 0)
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([o, n]) => h('span', { class: 'pill', text: `${o} ${n}` }));
        return h('tr', {}, h('td', { text: src }),
          h('td', { class: 'num', text: rate === undefined ? '…' : rate.toFixed(2) }),
          h('td', { class: 'num', text: e.total }), h('td', {}, outcomes));
      }, 'ingest-table'));
    previous = { at: now, by };
    replace(subs, h('h2', { text: 'Subscriptions' }),
      table(['subscription', 'tenant', 'state', 'queue', 'oldest waiting', 'dead letters', 'breakers'],
        list, (s) => h('tr', { 'data-subscription': s.id },
          h('td', {}, h('a', { href: '#/subscriptions', text: s.id })),
          h('td', { text: s.tenant ?? '—' }),
          h('td', {}, s.paused ? badge('paused') : badge('active')),
          h('td', { class: 'num', text: s.queue_depth }),
          h('td', { class: 'num', text: age(gauge(samples, 'hookgate_oldest_waiting_seconds', s.id)) }),
          h('td', { class: 'num' }, h('a', {
            href: `#/dead-letters?subscription=${encodeURIComponent(s.id)}`, text: s.dlq_depth,
          })),
          h('td', {}, s.routes.map((r) => h('span', { class: `pill breaker-${r.breaker}`, text: `${r.source}: ${r.breaker}` })))),
        'overview-subscriptions-table'));
    stamp.textContent = `updated ${new Date(now).toLocaleTimeString()} · every ${REFRESH_MS / 1000} s`;
  }

  await refresh();
  ctx.every(REFRESH_MS, () => refresh().catch(ctx.fail));
}
