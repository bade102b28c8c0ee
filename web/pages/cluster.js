// Cluster: totals, allocation over time, and every node with its GPUs coloured by the job
// holding each (GET /v1/nodes: gpu_jobs; /v1/cluster/history: the server's samples, to
// which the page adds its own while open).
import { api } from '../api.js';
import {
  KeyedTable, badge, fmtBytes, fmtCpus, fmtDuration, fmtTime, h, jobColor, meter, now, replace, setText, svg,
} from '../util.js';

const HISTORY_EVERY_S = 10;  // how often to ask the server for new samples
const WINDOW_S = 6 * 3600;   // the chart's span at most

function gpuCells(node) {
  const holders = node.gpu_jobs ?? [];
  if (holders.length === 0) return h('span', { class: 'muted' }, '—');
  return h('div', { class: 'gpus' }, holders.map((job, i) => {
    const model = node.gpus?.[i]?.model || node.gpu_model || 'GPU';
    if (job === null) return h('span', { class: 'gpu free', title: `GPU ${i} (${model}): free` }, String(i));
    return h('a', {
      class: 'gpu held', href: `#/jobs/${job}`, bg: jobColor(job), title: `GPU ${i} (${model}): job ${job}`, 'data-job': job,
    }, String(i));
  }));
}

function labels(node) {
  const entries = Object.entries(node.labels ?? {});
  if (entries.length === 0) return h('span', { class: 'muted' }, '—');
  return h('span', {}, entries.map(([k, v]) => h('span', { class: 'chip' }, `${k}=${v}`)));
}

function totalsOf(nodes) {
  const t = { up: 0, down: 0, cap: { gpus: 0, cpu_milli: 0, memory_bytes: 0 }, alloc: { gpus: 0, cpu_milli: 0, memory_bytes: 0 } };
  for (const n of nodes) {
    if (n.state !== 'UP') { t.down += 1; continue; }
    t.up += 1;
    for (const k of Object.keys(t.cap)) { t.cap[k] += n.capacity[k]; t.alloc[k] += n.allocated[k]; }
  }
  return t;
}

function card(title, value, sub) {
  return h('div', { class: 'stat' }, h('div', { class: 'stat-title' }, title), h('div', { class: 'stat-value' }, value), sub ?? '');
}

const SERIES = [
  { key: 'gpus', label: 'GPUs', cls: 'line-gpu' },
  { key: 'cpu_milli', label: 'CPUs', cls: 'line-cpu' },
  { key: 'memory_bytes', label: 'Memory', cls: 'line-mem' },
];

// Allocated share of each resource over time, as an SVG line chart.
function chart(samples, width) {
  const W = Math.max(400, Math.round(width || 900)); const H = 180; const L = 36; const R = 10; const T = 10; const B = 22;
  const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': 'Allocation over time' });
  for (const pct of [0, 50, 100]) {
    const y = T + (H - T - B) * (1 - pct / 100);
    root.append(svg('line', { x1: L, x2: W - R, y1: y, y2: y, class: 'gridline' }),
      svg('text', { x: L - 6, y: y + 4, 'text-anchor': 'end', class: 'axis' }, `${pct}%`));
  }
  if (samples.length === 0) {
    root.append(svg('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'axis' }, 'no samples yet'));
    return root;
  }
  const t1 = Math.max(now(), samples[samples.length - 1].time);
  const t0 = Math.min(samples[0].time, t1 - 60);
  const x = (t) => L + ((W - L - R) * (t - t0)) / Math.max(1, t1 - t0);
  const y = (f) => T + (H - T - B) * (1 - f);
  for (const s of SERIES) {
    const points = samples.map((p) => {
      const cap = p.capacity[s.key];
      return `${x(p.time).toFixed(1)},${y(cap > 0 ? p.allocated[s.key] / cap : 0).toFixed(1)}`;
    });
    root.append(svg('polyline', { points: points.join(' '), class: `line ${s.cls}` }));
  }
  for (const f of [0, 0.5, 1]) {
    const t = t0 + f * (t1 - t0);
    root.append(svg('text', { x: x(t), y: H - 6, 'text-anchor': f === 0 ? 'start' : f === 1 ? 'end' : 'middle', class: 'axis' }, fmtTime(t)));
  }
  return root;
}

// Kept across visits to the page while the tab is open: the server's samples and the page's own.
let serverSamples = [];
let localSamples = [];
let lastHistoryFetch = 0;

export function mount(root) {
  const stats = h('div', { class: 'stats' });
  const chartBox = h('div', { class: 'chart-box' });
  const legend = h('div', { class: 'legend' },
    SERIES.map((s) => h('span', { class: `key ${s.cls}` }, s.label)),
    h('span', { class: 'muted' }, ' allocated share of UP nodes'));
  const table = new KeyedTable([
    { title: 'Node', text: (n) => n.name },
    { title: 'State', cell: (n) => badge(n.state), sig: (n) => n.state },
    { title: 'Pool', text: (n) => n.pool || '—' },
    { title: 'Labels', cell: labels, sig: (n) => JSON.stringify(n.labels) },
    { title: 'CPUs', cell: (n) => meter(n.allocated.cpu_milli, n.capacity.cpu_milli, `${fmtCpus(n.allocated.cpu_milli)} / ${fmtCpus(n.capacity.cpu_milli)}`),
      sig: (n) => [n.allocated.cpu_milli, n.capacity.cpu_milli] },
    { title: 'Memory', cell: (n) => meter(n.allocated.memory_bytes, n.capacity.memory_bytes, `${fmtBytes(n.allocated.memory_bytes)} / ${fmtBytes(n.capacity.memory_bytes)}`),
      sig: (n) => [n.allocated.memory_bytes, n.capacity.memory_bytes] },
    { title: 'GPUs', cell: gpuCells, sig: (n) => JSON.stringify(n.gpu_jobs) },
    { title: 'Jobs', cell: (n) => h('span', {}, [...new Set(n.jobs)].map((id) => h('a', { href: `#/jobs/${id}`, class: 'joblink' }, h('span', { class: 'swatch', bg: jobColor(id) }), String(id)))),
      sig: (n) => JSON.stringify(n.jobs) },
    { title: 'Heartbeat', text: (n) => `${fmtDuration(now() - n.last_heartbeat)} ago` },
  ], { key: (n) => n.name, empty: 'No nodes have registered. Start one with `weft agent --server URL`.', rowClass: (n) => (n.state === 'UP' ? '' : 'down') });

  root.append(h('h1', {}, 'Cluster'), stats,
    h('h2', {}, 'Allocation'), h('div', { class: 'card' }, chartBox, legend),
    h('h2', {}, 'Nodes'), h('div', { class: 'card scroll' }, table.el));

  async function fetchHistory() {
    const last = serverSamples.length ? serverSamples[serverSamples.length - 1].time : 0;
    const q = last ? `?since=${Math.floor(last)}` : '';
    const { samples } = await api(`/v1/cluster/history${q}`);
    for (const s of samples) if (s.time > last) serverSamples.push(s);
    const cutoff = now() - WINDOW_S;
    serverSamples = serverSamples.filter((s) => s.time >= cutoff);
  }

  return {
    title: 'Cluster',
    async refresh() {
      const historyDue = now() - lastHistoryFetch >= HISTORY_EVERY_S;
      const [{ nodes }, running, pending] = await Promise.all([
        api('/v1/nodes'),
        api('/v1/jobs?state=RUNNING&offset=0&limit=1'),
        api('/v1/jobs?state=PENDING&offset=0&limit=1'),
        historyDue ? fetchHistory().then(() => { lastHistoryFetch = now(); }) : null,
      ]);
      const t = totalsOf(nodes);
      replace(stats,
        card('Nodes', `${t.up} up`, h('div', { class: t.down ? 'stat-sub warn' : 'stat-sub' }, `${t.down} down`)),
        card('GPUs', `${t.alloc.gpus} / ${t.cap.gpus}`, meter(t.alloc.gpus, t.cap.gpus)),
        card('CPUs', `${fmtCpus(t.alloc.cpu_milli)} / ${fmtCpus(t.cap.cpu_milli)}`, meter(t.alloc.cpu_milli, t.cap.cpu_milli)),
        card('Memory', `${fmtBytes(t.alloc.memory_bytes)} / ${fmtBytes(t.cap.memory_bytes)}`, meter(t.alloc.memory_bytes, t.cap.memory_bytes)),
        card('Jobs', `${running.total} running`, h('div', { class: 'stat-sub' }, `${pending.total.toLocaleString()} pending`)));
      // The page's own sample, kept where the server has none newer.
      localSamples.push({ time: now(), capacity: t.cap, allocated: t.alloc });
      const lastServer = serverSamples.length ? serverSamples[serverSamples.length - 1].time : 0;
      localSamples = localSamples.filter((s) => s.time > lastServer && s.time >= now() - WINDOW_S);
      replace(chartBox, chart([...serverSamples, ...localSamples], chartBox.clientWidth));
      table.update(nodes);
    },
  };
}
