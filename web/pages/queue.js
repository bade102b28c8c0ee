// Queue: pending and running jobs (or jobs in one state), filtered by user, queue and state,
// paged on the server (GET /v1/jobs?offset=&limit=) so that 10,000 queued jobs cost one page
// of rows, with a cancel button per live job.
import { api, cancelJob } from '../api.js';
import {
  FINAL, KeyedTable, Pager, badge, fmtBytes, fmtDuration, fmtRelative, fmtResources, fmtTime, h, jobLink, now, replace, setText,
} from '../util.js';

const PAGE = 50;
const STATES = ['PENDING', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT', 'OOM_KILLED', 'NODE_FAIL', 'PREEMPTED'];

function cancelButton(job, onDone) {
  if (FINAL.has(job.state)) return '';
  return h('button', {
    class: 'danger small',
    'data-cancel': job.id,
    onclick: async (event) => {
      if (!window.confirm(`Cancel job ${job.id} (${job.name || 'unnamed'})?`)) return;
      event.target.disabled = true;
      try {
        await cancelJob(job.id);
      } catch (e) {
        window.alert(`Cannot cancel job ${job.id}: ${e.message}`);
      }
      onDone();
    },
  }, 'Cancel');
}

function usageText(job) {
  const u = job.usage;
  if (!u) return '—';
  const elapsed = job.start_time ? now() - job.start_time : 0;
  const cores = elapsed > 0 ? (u.cpu_s / elapsed).toFixed(1) : '—';
  const mem = `${fmtBytes(u.memory_current_bytes)}${u.memory_limit_bytes ? ` / ${fmtBytes(u.memory_limit_bytes)}` : ''}`;
  const gpu = u.gpu_utilization === null || u.gpu_utilization === undefined ? '' : ` · GPU ${Math.round(u.gpu_utilization)}%`;
  return `${cores} cores · ${mem}${gpu}`;
}

function section(title, columns, options) {
  const heading = h('h2', {}, title);
  const count = h('span', { class: 'count' });
  heading.append(' ', count);
  const table = new KeyedTable(columns, { key: (j) => j.id, ...options });
  const wrapper = h('div', { class: 'card scroll' }, table.el);
  return { heading, count, table, wrapper };
}

export function mount(root, arg) {
  const filters = { user: '', queue: '', state: arg && STATES.includes(arg) ? arg : '' };
  let refreshNow = () => {};

  const userInput = h('input', { type: 'search', placeholder: 'any user', 'aria-label': 'User', value: filters.user });
  const queueSelect = h('select', { 'aria-label': 'Queue' }, h('option', { value: '' }, 'any queue'));
  const stateSelect = h('select', { 'aria-label': 'State' },
    h('option', { value: '' }, 'pending + running'),
    STATES.map((s) => h('option', { value: s, selected: s === filters.state }, s)));
  let debounce;
  userInput.addEventListener('input', () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => { filters.user = userInput.value.trim(); resetPages(); refreshNow(); }, 300);
  });
  queueSelect.addEventListener('change', () => { filters.queue = queueSelect.value; resetPages(); refreshNow(); });
  stateSelect.addEventListener('change', () => { filters.state = stateSelect.value; resetPages(); refreshNow(); });

  const onChange = () => refreshNow();
  const pending = section('Pending', [
    { title: 'ID', cell: (j) => jobLink(j.id), sig: (j) => j.id },
    { title: 'Name', text: (j) => j.name },
    { title: 'User', text: (j) => j.user },
    { title: 'Queue', text: (j) => j.queue || 'default' },
    { title: 'Size', text: (j) => `${j.num_nodes} × ${fmtResources(j.resources, j.gpu_model)}` },
    { title: 'Priority', class: 'num', cell: (j) => h('span', {
      title: j.priority_factors ? Object.entries(j.priority_factors).map(([k, v]) => `${k} ${(+v).toFixed(3)}`).join(', ') : '',
    }, typeof j.priority === 'number' ? j.priority.toFixed(3) : String(j.priority)), sig: (j) => j.priority },
    { title: 'Reason', text: (j) => j.reason || '—' },
    { title: 'Expected start', text: (j) => (j.expected_start ? `${fmtTime(j.expected_start)} (${fmtRelative(j.expected_start)})` : '—') },
    { title: 'Waiting', text: (j) => fmtDuration(now() - j.submit_time) },
    { title: '', cell: (j) => cancelButton(j, onChange), sig: (j) => `${j.id}/${j.state}` },
  ], { empty: 'No pending jobs.' });
  const running = section('Running', [
    { title: 'ID', cell: (j) => jobLink(j.id), sig: (j) => j.id },
    { title: 'Name', text: (j) => j.name },
    { title: 'User', text: (j) => j.user },
    { title: 'Queue', text: (j) => j.queue || 'default' },
    { title: 'Nodes', text: (j) => j.nodes.join(', ') },
    { title: 'Size', text: (j) => `${j.num_nodes} × ${fmtResources(j.resources, j.gpu_model)}` },
    { title: 'Elapsed', text: (j) => fmtDuration(now() - j.start_time) },
    { title: 'Limit', text: (j) => (j.time_limit_s ? fmtDuration(j.time_limit_s) : '—') },
    { title: 'Usage', text: usageText },
    { title: '', cell: (j) => cancelButton(j, onChange), sig: (j) => `${j.id}/${j.state}` },
  ], { empty: 'No running jobs.', rowClass: (j) => (j.preempted_at ? 'preempting' : '') });
  const other = section('Jobs', [
    { title: 'ID', cell: (j) => jobLink(j.id), sig: (j) => j.id },
    { title: 'Name', text: (j) => j.name },
    { title: 'User', text: (j) => j.user },
    { title: 'Queue', text: (j) => j.queue || 'default' },
    { title: 'State', cell: (j) => badge(j.state), sig: (j) => j.state },
    { title: 'Exit', text: (j) => (j.exit_signal ? `signal ${j.exit_signal}` : j.exit_code) },
    { title: 'Reason', text: (j) => j.reason || '—' },
    { title: 'Started', text: (j) => fmtTime(j.start_time) },
    { title: 'Ended', text: (j) => fmtTime(j.end_time) },
    { title: 'Elapsed', text: (j) => (j.start_time && j.end_time ? fmtDuration(j.end_time - j.start_time) : '—') },
  ], { empty: 'No jobs in this state.' });
  const pagers = { pending: new Pager(PAGE, onChange), running: new Pager(PAGE, onChange), other: new Pager(PAGE, onChange) };
  function resetPages() { Object.values(pagers).forEach((p) => p.reset()); }

  const body = h('div');
  root.append(h('h1', {}, 'Queue'),
    h('div', { class: 'filters' },
      h('label', {}, 'User ', userInput), h('label', {}, 'Queue ', queueSelect), h('label', {}, 'State ', stateSelect)),
    body);

  let layout = '';
  let queueNames = '';
  const url = (states, pager, order = 'asc') => {
    const q = new URLSearchParams({ state: states, offset: pager.offset, limit: PAGE, order });
    if (filters.user) q.set('user', filters.user);
    if (filters.queue) q.set('queue', filters.queue);
    return `/v1/jobs?${q}`;
  };

  async function refresh() {
    const wanted = filters.state === '' ? 'live' : filters.state === 'PENDING' ? 'pending' : filters.state === 'RUNNING' ? 'running' : 'other';
    if (wanted !== layout) {
      layout = wanted;
      const parts = [];
      if (layout === 'live' || layout === 'pending') parts.push(pending.heading, pending.wrapper, pagers.pending.el);
      if (layout === 'live' || layout === 'running') parts.push(running.heading, running.wrapper, pagers.running.el);
      if (layout === 'other') {
        setText(other.heading.firstChild, filters.state);
        parts.push(other.heading, other.wrapper, pagers.other.el);
      }
      replace(body, parts);
    }
    const requests = [api('/v1/queues')];
    if (layout === 'live' || layout === 'pending') requests.push(api(url('PENDING', pagers.pending)).then((r) => ['pending', r]));
    if (layout === 'live' || layout === 'running') requests.push(api(url('RUNNING', pagers.running)).then((r) => ['running', r]));
    if (layout === 'other') requests.push(api(url(filters.state, pagers.other, 'desc')).then((r) => ['other', r]));
    const [{ queues }, ...pages] = await Promise.all(requests);
    const names = queues.map((q) => q.name).join('\n');
    if (names !== queueNames) {
      queueNames = names;
      replace(queueSelect, h('option', { value: '' }, 'any queue'),
        queues.map((q) => h('option', { value: q.name, selected: q.name === filters.queue }, q.name)));
    }
    for (const [which, result] of pages) {
      const s = { pending, running, other }[which];
      s.table.update(result.jobs);
      setText(s.count, `(${result.total.toLocaleString()})`);
      pagers[which].update(result.total, result.jobs.length);
    }
  }
  refreshNow = () => refresh().catch(() => {});
  return { title: 'Queue', refresh };
}
