// DOM and formatting helpers shared by the pages. No framework: elements are built with h()
// and tables are updated in place (KeyedTable), so a poll never rebuilds what did not change.

// h('a', {href: '#/x', class: 'y', onclick: f}, 'text', child, [more])
export function h(tag, attrs = {}, ...children) {
  const el = tag === 'svg' || attrs.svg
    ? document.createElementNS('http://www.w3.org/2000/svg', tag) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false || k === 'svg') continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.setAttribute('class', v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'bg') el.style.background = v;
    else if (k === 'width%') el.style.width = `${v}%`;
    else el.setAttribute(k, v === true ? '' : v);
  }
  append(el, children);
  return el;
}

export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) el.setAttribute(k, v);
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

// Sets text only when it changed (keeps selections and avoids layout work).
export function setText(el, text) {
  const s = String(text ?? '');
  if (el.textContent !== s) el.textContent = s;
}

const GiB = 1024 ** 3;
export function fmtBytes(n) {
  if (n === null || n === undefined) return '—';
  if (n >= GiB) return `${(n / GiB).toFixed(n >= 10 * GiB ? 0 : 1)} GiB`;
  if (n >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(0)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(0)} KiB`;
  return `${n} B`;
}

export const fmtCpus = (milli) => (milli === null || milli === undefined ? '—'
  : `${+(milli / 1000).toFixed(milli % 1000 ? 1 : 0)}`);

export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return '—';
  let s = Math.max(0, Math.round(seconds));
  const d = Math.floor(s / 86400); s %= 86400;
  const hh = Math.floor(s / 3600); s %= 3600;
  const mm = Math.floor(s / 60); s %= 60;
  if (d) return `${d}d ${hh}h`;
  if (hh) return `${hh}h ${String(mm).padStart(2, '0')}m`;
  if (mm) return `${mm}m ${String(s).padStart(2, '0')}s`;
  return `${s}s`;
}

export function fmtTime(unix) {
  if (!unix || !Number.isFinite(unix)) return '—';
  const d = new Date(unix * 1000);
  const today = new Date();
  const time = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
  if (d.toDateString() === today.toDateString()) return time;
  return `${d.toISOString().slice(0, 10)} ${time}`;
}

export const now = () => Date.now() / 1000;

export function fmtRelative(unix) {
  if (!unix) return '—';
  const delta = unix - now();
  return delta >= 0 ? `in ${fmtDuration(delta)}` : `${fmtDuration(-delta)} ago`;
}

// per-node resources → "8 GPU · 32 CPU · 256 GiB"
export function fmtResources(r, gpuModel) {
  if (!r) return '—';
  const parts = [];
  if (r.gpus) parts.push(`${r.gpus}${gpuModel ? ` ${gpuModel}` : ''} GPU`);
  if (r.cpu_milli) parts.push(`${fmtCpus(r.cpu_milli)} CPU`);
  if (r.memory_bytes) parts.push(fmtBytes(r.memory_bytes));
  return parts.join(' · ') || '—';
}

// A stable, well-spread colour per job id (golden-angle hues).
export const jobColor = (id) => `hsl(${Math.round((id * 137.508) % 360)} 62% 52%)`;

export const FINAL = new Set(['COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT', 'OOM_KILLED', 'NODE_FAIL', 'PREEMPTED']);

export const badge = (state) => h('span', { class: `badge s-${String(state).toLowerCase()}` }, state);

export const jobLink = (id) => h('a', { href: `#/jobs/${id}` }, String(id));

export function meter(used, total, label) {
  const pct = total > 0 ? Math.min(100, (100 * used) / total) : 0;
  return h('div', { class: 'meter', title: label ?? `${Math.round(pct)}%` },
    h('div', { class: `fill${pct >= 90 ? ' hot' : ''}`, 'width%': pct.toFixed(1) }),
    h('span', {}, label ?? `${Math.round(pct)}%`));
}

// A table whose rows are keyed (by job id, node name...) and updated in place: a row's cells
// are rebuilt only when their signature changes, so buttons and links survive polls.
// columns: [{title, text: item => string}] or [{title, cell: item => Node, sig: item => string}]
export class KeyedTable {
  constructor(columns, { key, empty = 'Nothing here.', rowClass } = {}) {
    this.columns = columns;
    this.key = key;
    this.rowClass = rowClass;
    this.rows = new Map();
    this.tbody = h('tbody');
    this.emptyRow = h('tr', { class: 'empty' }, h('td', { colspan: columns.length }, empty));
    this.el = h('table', { class: 'grid' },
      h('thead', {}, h('tr', {}, columns.map((c) => h('th', { class: c.class }, c.title)))), this.tbody);
  }

  update(items) {
    const seen = new Set();
    let previous = null;
    for (const item of items) {
      const k = String(this.key(item));
      seen.add(k);
      let row = this.rows.get(k);
      if (!row) {
        row = { tr: h('tr', { dataset: { key: k } }), cells: this.columns.map((c) => h('td', { class: c.class })), sigs: [] };
        row.tr.append(...row.cells);
        this.rows.set(k, row);
      }
      if (this.rowClass) {
        const cls = this.rowClass(item) ?? '';
        if (row.tr.className !== cls) row.tr.className = cls;
      }
      this.columns.forEach((c, j) => {
        if (c.cell) {
          const sig = c.sig ? String(c.sig(item)) : JSON.stringify(item);
          if (row.sigs[j] !== sig) {
            row.sigs[j] = sig;
            replace(row.cells[j], c.cell(item));
          }
        } else {
          setText(row.cells[j], c.text(item));
        }
      });
      const wanted = previous ? previous.nextSibling : this.tbody.firstChild;
      if (row.tr !== wanted) this.tbody.insertBefore(row.tr, wanted);
      previous = row.tr;
    }
    for (const [k, row] of this.rows) {
      if (!seen.has(k)) {
        row.tr.remove();
        this.rows.delete(k);
      }
    }
    if (items.length === 0 && !this.emptyRow.isConnected) this.tbody.append(this.emptyRow);
    if (items.length > 0 && this.emptyRow.isConnected) this.emptyRow.remove();
  }
}

// "‹ Prev  1–50 of 10,000  Next ›" for server-side pages.
export class Pager {
  constructor(pageSize, onChange) {
    this.offset = 0;
    this.pageSize = pageSize;
    this.total = 0;
    this.label = h('span', { class: 'pager-label' });
    this.prev = h('button', { class: 'quiet', onclick: () => this.go(-1) }, '‹ Prev');
    this.next = h('button', { class: 'quiet', onclick: () => this.go(1) }, 'Next ›');
    this.onChange = onChange;
    this.el = h('div', { class: 'pager' }, this.prev, this.label, this.next);
  }

  go(direction) {
    const offset = Math.max(0, this.offset + direction * this.pageSize);
    if (offset >= this.total && direction > 0) return;
    this.offset = offset;
    this.onChange();
  }

  reset() { this.offset = 0; }

  update(total, shown) {
    this.total = total;
    if (this.offset > 0 && this.offset >= total) this.offset = Math.max(0, total - this.pageSize);
    const first = total === 0 ? 0 : this.offset + 1;
    setText(this.label, `${first.toLocaleString()}–${(this.offset + shown).toLocaleString()} of ${total.toLocaleString()}`);
    this.prev.disabled = this.offset === 0;
    this.next.disabled = this.offset + this.pageSize >= total;
    this.el.hidden = total <= this.pageSize && this.offset === 0;
  }
}
