// Queues: quota, usage, borrowing and pending demand per tenant (GET /v1/queues).
import { api } from '../api.js';
import { KeyedTable, fmtBytes, fmtCpus, h, meter } from '../util.js';

const unlimited = (v) => v === null || v === undefined;

// usage against quota as a meter ("3 / 8"), or a plain value when unlimited.
function against(used, quota, fmt) {
  if (unlimited(quota)) return h('span', {}, `${fmt(used)} `, h('span', { class: 'muted' }, '/ ∞'));
  return meter(used, quota, `${fmt(used)} / ${fmt(quota)}`);
}

const fmtInt = (n) => (n === null || n === undefined ? '—' : String(n));
const limit = (v, fmt) => (unlimited(v) ? '∞' : fmt(v));

export function mount(root) {
  const table = new KeyedTable([
    { title: 'Queue', text: (q) => q.name },
    { title: 'Cohort', text: (q) => q.cohort || '—' },
    { title: 'Weight', text: (q) => q.weight },
    { title: 'Running', class: 'num', text: (q) => q.running_jobs },
    { title: 'Pending', class: 'num', text: (q) => q.pending_jobs },
    { title: 'GPUs used / quota', cell: (q) => against(q.usage.gpus, q.quota.gpus, fmtInt),
      sig: (q) => [q.usage.gpus, q.quota.gpus] },
    { title: 'CPUs used / quota', cell: (q) => against(q.usage.cpu_milli, q.quota.cpu_milli, fmtCpus),
      sig: (q) => [q.usage.cpu_milli, q.quota.cpu_milli] },
    { title: 'Memory used / quota', cell: (q) => against(q.usage.memory_bytes, q.quota.memory_bytes, fmtBytes),
      sig: (q) => [q.usage.memory_bytes, q.quota.memory_bytes] },
    { title: 'Borrowed (limit)', text: (q) => `${q.borrowed.gpus} GPU · ${fmtCpus(q.borrowed.cpu_milli)} CPU · ${fmtBytes(q.borrowed.memory_bytes)}`
      + `  (${limit(q.borrow_limit.gpus, fmtInt)} GPU · ${limit(q.borrow_limit.cpu_milli, fmtCpus)} CPU · ${limit(q.borrow_limit.memory_bytes, fmtBytes)})` },
    { title: 'Pending demand', text: (q) => `${q.pending_demand.gpus} GPU · ${fmtCpus(q.pending_demand.cpu_milli)} CPU · ${fmtBytes(q.pending_demand.memory_bytes)}` },
    { title: 'Fair share', class: 'num', text: (q) => q.fair_share.toFixed(3) },
  ], { key: (q) => q.name, empty: 'No queues.' });

  root.append(h('h1', {}, 'Queues'),
    h('p', { class: 'muted' }, 'Nominal quota per queue (∞: unlimited); a queue in a cohort may borrow its peers\' idle quota up to its borrow limit.'),
    h('div', { class: 'card scroll' }, table.el));

  return {
    title: 'Queues',
    async refresh() {
      const { queues } = await api('/v1/queues');
      table.update(queues);
    },
  };
}
