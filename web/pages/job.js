// One job: summary, timeline, attempts with accounting, ranks, spec, and each rank's log
// followed live (GET /v1/jobs/{id}/logs?rank=&offset=&stream=, X-Weft-Offset/X-Weft-Done).
import { api, cancelJob } from '../api.js';
import {
  FINAL, KeyedTable, badge, fmtBytes, fmtDuration, fmtResources, fmtTime, h, jobColor, now, replace, setText,
} from '../util.js';

const MAX_LOG_CHARS = 2_000_000;  // the page keeps the tail of a huge log

function kv(rows) {
  return h('dl', { class: 'kv' }, rows.filter(Boolean).map(([k, v]) => [h('dt', {}, k), h('dd', {}, v ?? '—')]));
}

// Submit → (start → end)* from the record and its attempts.
function timeline(job) {
  const events = [{ t: job.submit_time, what: 'submitted', state: 'PENDING' }];
  for (const a of job.attempts) {
    if (a.start_time) events.push({ t: a.start_time, what: `run ${a.attempt + 1} started on ${a.nodes.join(', ')}`, state: 'RUNNING' });
    if (a.end_time) events.push({ t: a.end_time, what: `run ${a.attempt + 1} ended${a.reason ? `: ${a.reason}` : ''}`, state: a.state });
  }
  const ended = job.attempts.length ? job.attempts[job.attempts.length - 1].end_time : 0;
  if (job.start_time && job.start_time > (ended || 0) - 1e-6 && !job.attempts.some((a) => Math.abs(a.start_time - job.start_time) < 1e-3)) {
    events.push({ t: job.start_time, what: `started on ${job.nodes.join(', ') || '—'}`, state: 'RUNNING' });
  }
  if (job.end_time && !job.attempts.some((a) => Math.abs(a.end_time - job.end_time) < 1e-3)) {
    events.push({ t: job.end_time, what: `ended${job.reason ? `: ${job.reason}` : ''}`, state: job.state });
  }
  events.sort((a, b) => a.t - b.t);
  const start = job.submit_time;
  const end = FINAL.has(job.state) ? (job.end_time || events[events.length - 1].t) : now();
  const span = Math.max(1, end - start);
  // A bar: waiting segments grey, running segments in the job's colour.
  const bar = h('div', { class: 'timebar' });
  let t = start;
  let state = 'PENDING';
  for (const e of [...events.slice(1), { t: end, state: 'END' }]) {
    const width = (100 * (e.t - t)) / span;
    if (width > 0) bar.append(h('span', { class: `seg seg-${state.toLowerCase()}`, 'width%': width.toFixed(2), bg: state === 'RUNNING' ? jobColor(job.id) : undefined, title: `${state} ${fmtDuration(e.t - t)}` }));
    t = e.t;
    state = e.state === 'RUNNING' ? 'RUNNING' : FINAL.has(e.state) && e.state !== job.state ? 'PENDING' : e.state;
  }
  return h('div', {}, bar, h('ol', { class: 'timeline' }, events.map((e) => h('li', {},
    h('time', {}, fmtTime(e.t)), ' ', h('span', { class: 'muted' }, `+${fmtDuration(e.t - start)}`), ' ', badge(e.state), ' ', e.what))));
}

// The job's usage (API view: cpu_s, null GPU) or a rank's (model record: cpu_usec, -1 GPU).
function usageSummary(u) {
  if (!u) return '—';
  const cpuS = u.cpu_s ?? (u.cpu_usec ?? 0) / 1e6;
  const gpu = u.gpu_utilization === null || u.gpu_utilization === undefined || u.gpu_utilization < 0 ? '' : ` · GPU ${Math.round(u.gpu_utilization)}%`;
  return `${cpuS.toFixed(1)} CPU·s · memory ${fmtBytes(u.memory_current_bytes)} (peak ${fmtBytes(u.memory_peak_bytes)}${u.memory_limit_bytes ? `, limit ${fmtBytes(u.memory_limit_bytes)}` : ''})${gpu}`;
}

// Follows one rank's stream: appends new bytes from the last offset until the job is done.
class LogFollower {
  constructor(jobId, rank, stream, pre, statusEl) {
    Object.assign(this, { jobId, rank, stream, pre, statusEl });
    this.offset = 0;
    this.done = false;
    this.decoder = new TextDecoder();
    this.text = document.createTextNode('');
    pre.replaceChildren(this.text);
  }

  async poll() {
    for (let round = 0; round < 8 && !this.done; ++round) {
      const q = new URLSearchParams({ rank: this.rank, offset: this.offset, stream: this.stream });
      const response = await api(`/v1/jobs/${this.jobId}/logs?${q}`, { raw: true });
      const bytes = new Uint8Array(await response.arrayBuffer());
      this.offset = Number(response.headers.get('X-Weft-Offset') ?? this.offset + bytes.length);
      this.done = response.headers.get('X-Weft-Done') === '1';
      if (bytes.length) {
        const atBottom = this.pre.scrollTop + this.pre.clientHeight >= this.pre.scrollHeight - 4;
        let text = this.text.data + this.decoder.decode(bytes, { stream: !this.done });
        if (text.length > MAX_LOG_CHARS) text = `[… earlier output not shown …]\n${text.slice(text.length - MAX_LOG_CHARS)}`;
        this.text.data = text;
        if (atBottom) this.pre.scrollTop = this.pre.scrollHeight;
      }
      if (bytes.length < 1 << 20) break;  // caught up
    }
    setText(this.statusEl, this.done ? `end of log · ${this.offset.toLocaleString()} bytes`
      : `following · ${this.offset.toLocaleString()} bytes`);
    this.pre.classList.toggle('done', this.done);
  }
}

export function mount(root, arg) {
  const id = Number(arg);
  const title = h('h1', {}, `Job ${id}`);
  const actions = h('span', { class: 'actions' });
  const summary = h('div', { class: 'card' });
  const timelineBox = h('div', { class: 'card' });
  const specBox = h('pre', { class: 'code' });
  const scriptBox = h('pre', { class: 'code' });
  const envBox = h('pre', { class: 'code' });
  const envSummary = h('summary', {}, 'Environment');
  const rankTabs = h('div', { class: 'tabs', role: 'tablist' });
  const streamSelect = h('select', { 'aria-label': 'Stream' }, h('option', { value: 'output' }, 'output'), h('option', { value: 'error' }, 'error'));
  const logStatus = h('span', { class: 'muted log-status' });
  const logPre = h('pre', { class: 'log', id: 'log', tabindex: 0 });
  const attempts = new KeyedTable([
    { title: 'Restart', text: (a) => a.attempt },  // restart_count during the run
    { title: 'State', cell: (a) => badge(a.state), sig: (a) => a.state },
    { title: 'Reason', text: (a) => a.reason || '—' },
    { title: 'Nodes', text: (a) => a.nodes.join(', ') },
    { title: 'Start', text: (a) => fmtTime(a.start_time) },
    { title: 'End', text: (a) => fmtTime(a.end_time) },
    { title: 'Elapsed', text: (a) => fmtDuration(a.elapsed_s) },
    { title: 'Exit', text: (a) => (a.exit_signal ? `signal ${a.exit_signal}` : a.exit_code) },
    { title: 'CPU', class: 'num', text: (a) => `${a.cpu_s.toFixed(1)} s` },
    { title: 'Memory peak', text: (a) => `${fmtBytes(a.memory_peak_bytes)}${a.memory_limit_bytes ? ` / ${fmtBytes(a.memory_limit_bytes)}` : ''}` },
    { title: 'GPU', text: (a) => `${a.gpu_s.toFixed(1)} s${a.gpu_utilization === null ? '' : ` · ${Math.round(a.gpu_utilization)}%`}` },
  ], { key: (a) => a.attempt, empty: 'No attempt has ended yet.' });
  const ranks = new KeyedTable([
    { title: 'Rank', text: (r) => r.rank },
    { title: 'Node', text: (r) => r.node },
    { title: 'GPUs', cell: (r) => h('span', {}, r.gpu_ids.length ? r.gpu_ids.map((g) => h('span', { class: 'gpu held small', bg: jobColor(id) }, String(g))) : '—'), sig: (r) => JSON.stringify(r.gpu_ids) },
    { title: 'Phase', text: (r) => r.task?.phase ?? '—' },
    // Task records carry Unix microseconds (the model's own JSON), not seconds.
    { title: 'Started', text: (r) => fmtTime(r.task?.start_time && r.task.start_time / 1e6) },
    { title: 'Ended', text: (r) => fmtTime(r.task?.end_time && r.task.end_time / 1e6) },
    { title: 'Exit', text: (r) => (r.task?.exit ? (r.task.exit.signal ? `signal ${r.task.exit.signal}` : r.task.exit.exit_code) : '—') },
    { title: 'Usage', text: (r) => usageSummary(r.task?.usage) },
    { title: 'Output', text: (r) => r.task?.output_path || '—' },
  ], { key: (r) => r.rank, empty: 'Not allocated yet.' });

  root.append(h('div', { class: 'title-row' }, title, actions), summary,
    h('h2', {}, 'Timeline'), timelineBox,
    h('h2', {}, 'Logs'),
    h('div', { class: 'card' }, h('div', { class: 'log-bar' }, rankTabs, h('label', {}, 'Stream ', streamSelect), logStatus), logPre),
    h('h2', {}, 'Ranks'), h('div', { class: 'card scroll' }, ranks.el),
    h('h2', {}, 'Attempts'), h('div', { class: 'card scroll' }, attempts.el),
    h('h2', {}, 'Spec'), h('div', { class: 'card' }, h('details', {}, h('summary', {}, 'Script'), scriptBox),
      h('details', {}, envSummary, envBox), specBox));

  let job = null;
  let rank = 0;
  let follower = null;
  let tabsFor = -1;
  let actionsSig = '';
  let specSig = '';

  function follow() {
    follower = new LogFollower(id, rank, streamSelect.value, logPre, logStatus);
    for (const b of rankTabs.children) b.setAttribute('aria-selected', String(Number(b.dataset.rank) === rank));
  }
  streamSelect.addEventListener('change', () => { follow(); follower.poll().catch(() => {}); });

  return {
    title: `Job ${id}`,
    async refresh() {
      job = await api(`/v1/jobs/${id}`);
      setText(title, `Job ${job.id} · ${job.name || 'unnamed'}`);
      const sig = `${job.state}`;
      if (sig !== actionsSig) {
        actionsSig = sig;
        replace(actions, badge(job.state), FINAL.has(job.state) ? '' : h('button', {
          class: 'danger', id: 'cancel-job',
          onclick: async (event) => {
            if (!window.confirm(`Cancel job ${id}?`)) return;
            event.target.disabled = true;
            try { await cancelJob(id); } catch (e) { window.alert(`Cannot cancel job ${id}: ${e.message}`); }
          },
        }, 'Cancel job'));
      }
      const elapsed = job.start_time ? (job.end_time || now()) - job.start_time : null;
      replace(summary, kv([
        ['State', badge(job.state)],
        ['Reason', job.reason || '—'],
        ['User', job.user], ['Queue', job.queue || 'default'],
        ['Size', `${job.num_nodes} node${job.num_nodes === 1 ? '' : 's'} × ${fmtResources(job.resources, job.gpu_model)}`],
        ['Priority', String(job.priority)],
        ['Time limit', job.time_limit_s ? fmtDuration(job.time_limit_s) : '—'],
        ['Submitted', fmtTime(job.submit_time)],
        job.state === 'PENDING' && ['Expected start', fmtTime(job.expected_start)],
        ['Started', fmtTime(job.start_time)],
        ['Ended', fmtTime(job.end_time)],
        ['Elapsed', fmtDuration(elapsed)],
        ['Nodes', job.nodes.join(', ') || '—'],
        FINAL.has(job.state) && ['Exit', job.exit_signal ? `signal ${job.exit_signal}` : String(job.exit_code)],
        ['Restarts', String(job.restart_count)],
        job.array_job_id && ['Array', `${job.array_job_id}[${job.array_task_id}]`],
        ['Usage', usageSummary(job.usage)],
        ['Work dir', h('code', {}, job.work_dir)],
      ]));
      replace(timelineBox, timeline(job));
      ranks.update(job.ranks.map((r, i) => ({ rank: i, ...r })));
      attempts.update(job.attempts);
      // The script and the (often long) environment fold away; the rest of the spec shows.
      const { script, env, ...spec } = job.spec;
      const specText = JSON.stringify(spec, null, 2);
      if (specText !== specSig) {
        specSig = specText;
        setText(specBox, specText);
        setText(scriptBox, script ?? '');
        const vars = Object.entries(env ?? {});
        setText(envSummary, `Environment (${vars.length} variables)`);
        setText(envBox, vars.map(([k, v]) => `${k}=${v}`).join('\n'));
      }
      const rankCount = Math.max(job.ranks.length, 1);
      if (rankCount !== tabsFor) {
        tabsFor = rankCount;
        replace(rankTabs, Array.from({ length: rankCount }, (_, r) => h('button', {
          class: 'tab', role: 'tab', dataset: { rank: r },
          onclick: () => { rank = r; follow(); follower.poll().catch(() => {}); },
        }, `rank ${r}`)));
        if (rank >= rankCount) rank = 0;
        if (!follower) follow();
        else for (const b of rankTabs.children) b.setAttribute('aria-selected', String(Number(b.dataset.rank) === rank));
      }
      if (job.state !== 'PENDING' && !follower.done) await follower.poll();
      else if (job.state === 'PENDING') setText(logStatus, 'waiting for the job to start');
    },
  };
}
