// The dashboard's shell: sign-in, hash routing (#/cluster, #/queue, #/jobs/ID, #/queues,
// #/services) and the poll that keeps the shown page live (every 1.5 s while visible).
import { api, clearToken, onUnauthenticated, setToken, token } from './api.js';
import { setText } from './util.js';
import * as cluster from './pages/cluster.js';
import * as queue from './pages/queue.js';
import * as job from './pages/job.js';
import * as queues from './pages/queues.js';
import * as services from './pages/services.js';

const POLL_MS = 1500;
const pages = { cluster, queue, jobs: job, queues, services };

const $ = (id) => document.getElementById(id);
let current = null;  // { name, arg, view }
let busy = false;

function showLogin(message = '') {
  unmount();
  $('nav').hidden = true;
  $('logout').hidden = true;
  $('login').hidden = false;
  setText($('login-error'), message);
  setText($('status'), '');
  $('token').focus();
}

function unmount() {
  if (current?.view.unmount) current.view.unmount();
  current = null;
  $('page').replaceChildren();
}

function route() {
  if (!token()) return showLogin();
  $('login').hidden = true;
  $('nav').hidden = false;
  $('logout').hidden = false;
  const [name = 'cluster', arg] = location.hash.replace(/^#\/?/, '').split('/');
  const page = pages[name] ?? cluster;
  const key = pages[name] ? name : 'cluster';
  for (const a of document.querySelectorAll('#nav a')) {
    a.classList.toggle('active', a.dataset.page === key || (key === 'jobs' && a.dataset.page === 'queue'));
  }
  unmount();
  const root = document.createElement('section');
  root.className = `page page-${key}`;
  $('page').append(root);
  current = { name: key, arg, view: page.mount(root, arg) };
  document.title = `${current.view.title ?? key} · Weft`;
  refresh();
}

// One refresh at a time; a slow server never piles up requests.
async function refresh() {
  if (!current || busy) return;
  busy = true;
  const view = current.view;
  try {
    await view.refresh();
    if (current?.view === view) {
      setText($('status'), `live · ${new Date().toLocaleTimeString([], { hour12: false })}`);
      $('status').classList.remove('stale');
    }
  } catch (e) {
    if (current?.view === view) {
      setText($('status'), `error: ${e.message}`);
      $('status').classList.add('stale');
    }
  } finally {
    busy = false;
  }
}

$('login').addEventListener('submit', async (event) => {
  event.preventDefault();
  const candidate = $('token').value.trim();
  if (!candidate) return;
  try {
    await api('/v1/queues', { tokenOverride: candidate });
  } catch (e) {
    setText($('login-error'), e.status === 401 ? 'That token is not valid (wrong, revoked, or for another server).' : e.message);
    return;
  }
  setToken(candidate);
  $('token').value = '';
  if (!location.hash) location.hash = '#/cluster';
  route();
});

$('logout').addEventListener('click', () => {
  clearToken();
  showLogin();
});

onUnauthenticated(() => {
  clearToken();
  showLogin('The server no longer accepts this token; sign in again.');
});

window.addEventListener('hashchange', route);
document.addEventListener('visibilitychange', () => { if (!document.hidden) refresh(); });
setInterval(() => { if (!document.hidden) refresh(); }, POLL_MS);
route();
