// Building the page without an HTML parser.
//
// Everything the console shows that came from the gateway (payloads,
// subscriber answers, ids, errors) goes through textContent, never through
// a property or call that parses markup (the crate's tests refuse every
// such sink in these files), so a hostile string is shown as the text it is. Links only ever point inside the console (`#/...`).

/** Creates an element: `h('td', { class: 'num', text: 42 }, child...)`. */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'text') el.textContent = String(value);
    else if (key === 'href') el.setAttribute('href', internalHref(value));
    else if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2), value);
    } else if (key === 'checked' || key === 'disabled' || key === 'value') el[key] = value;
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

/** Appends children: nodes as they are, anything else as a text node. */
export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Replaces an element's content. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/** Only console-internal links: anything else becomes a dead `#`. */
function internalHref(value) {
  const s = String(value);
  return s.startsWith('#/') ? s : '#';
}

/** A table with a header row and one row per item. */
export function table(columns, items, row, test) {
  const head = h('tr', {}, columns.map((c) => h('th', { text: c })));
  const body = items.map((item) => row(item));
  if (body.length === 0) {
    body.push(h('tr', {}, h('td', { class: 'empty', colspan: columns.length, text: 'nothing here' })));
  }
  return h('table', { 'data-test': test }, h('thead', {}, head), h('tbody', {}, body));
}

/** A definition list of [label, value] pairs. */
export function facts(pairs, test) {
  return h('dl', { class: 'facts', 'data-test': test },
    pairs.map(([k, v]) => [h('dt', { text: k }), h('dd', { 'data-field': k, text: v ?? '—' })]));
}

/** A small coloured label. */
export function badge(text, kind = String(text)) {
  return h('span', { class: `badge badge-${kind.replace(/[^a-z_]/g, '')}`, text });
}

/** A labelled text input. */
export function field(label, name, value, attrs = {}) {
  return h('label', { class: 'field' }, h('span', { text: label }),
    h('input', { name, value: value ?? '', ...attrs }));
}

/** Reads a form's named inputs into an object of non-empty strings. */
export function formValues(form) {
  const out = {};
  for (const el of form.querySelectorAll('input[name], select[name]')) {
    if (el.type === 'checkbox') continue;
    if (el.value.trim() !== '') out[el.name] = el.value.trim();
  }
  return out;
}

/** An RFC 3339 time as local, readable text (the raw value in the title). */
export function when(rfc3339) {
  if (!rfc3339) return h('span', { text: '—' });
  const d = new Date(rfc3339);
  const text = Number.isNaN(d.getTime()) ? rfc3339 : d.toLocaleString();
  return h('time', { datetime: rfc3339, title: rfc3339, text });
}

/** `datetime-local` input value → RFC 3339 (UTC), or the text as typed. */
export function toRfc3339(value) {
  if (!value) return undefined;
  if (/[zZ]|[+-]\d\d:\d\d$/.test(value)) return value;
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? value : d.toISOString();
}
