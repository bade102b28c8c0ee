// The dashboard end to end: a real `weft server` and two `weft agent`s on 127.0.0.1 (port 0,
// temp dir), driven in Debian's headless Chromium through playwright-core.
//
//   WEFT_BINARY=build/weft node --test tests/e2e/dashboard.test.mjs
//
// Skips (exit 0, a "SKIP:" line that ctest reports as skipped) when Chromium, playwright-core
// (`npm ci` in tests/e2e) or the weft binary is missing. WEFT_SCREENSHOT_DIR=docs/screenshots
// refreshes the committed screenshots; by default they go to the temp dir.
// Synchronisation is by condition only (playwright's auto-waiting expectations and a polling
// waitFor with deadlines), never by sleeping; only processes started here are signalled, by pid.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const WEFT = process.env.WEFT_BINARY || path.join(repo, 'build/weft');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

let playwright = null;
try {
  playwright = await import('playwright-core');
} catch { /* reported below */ }
const skip = !fs.existsSync(CHROMIUM) ? `no Chromium at ${CHROMIUM} (apt-get install chromium)`
  : !playwright ? 'playwright-core is not installed (cd tests/e2e && npm ci)'
    : !fs.existsSync(WEFT) ? `no weft binary at ${WEFT} (set WEFT_BINARY)` : '';
if (skip) console.log(`SKIP: ${skip}`);

const TIMEOUT = 20_000;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-e2e-'));
const stateDir = path.join(tmp, 'state');
const work = path.join(tmp, 'work');
const shots = process.env.WEFT_SCREENSHOT_DIR ? path.resolve(repo, process.env.WEFT_SCREENSHOT_DIR) : path.join(tmp, 'screenshots');
const children = [];  // every process this test started: { name, proc }
let url = '';
let token = '';
let browser = null;
let page = null;
const outside = [];  // requests the page made anywhere but this server
const pageErrors = [];  // uncaught errors and console errors in the page, shown on failure

// Polls `condition` (sync or async) until it returns a truthy value or `ms` pass.
async function waitFor(what, condition, ms = TIMEOUT) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await condition();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function start(name, args) {
  const log = fs.openSync(path.join(tmp, `${name}.log`), 'a');
  const proc = spawn(WEFT, args, { cwd: tmp, stdio: ['ignore', log, log] });
  fs.closeSync(log);
  children.push({ name, proc });
  return proc;
}

function exited(proc) {
  return proc.exitCode !== null || proc.signalCode !== null;
}

async function stop(proc, signal = 'SIGTERM') {
  if (exited(proc)) return;
  const done = new Promise((resolve) => proc.once('exit', resolve));
  proc.kill(signal);
  const timer = setTimeout(() => { if (!exited(proc)) proc.kill('SIGKILL'); }, 10_000);
  await done;
  clearTimeout(timer);
}

async function rest(target, options = {}) {
  const response = await fetch(url + target, { ...options, headers: { Authorization: `Bearer ${token}` } });
  assert.ok(response.ok, `${target}: ${response.status}`);
  return response.json();
}

// `weft submit --parsable` of a script written into the work dir; the job id.
function submit(name, script) {
  fs.writeFileSync(path.join(work, name), script);
  const out = execFileSync(WEFT, ['submit', '--parsable', name], {
    cwd: work,
    // A small environment: the job's spec records it, and the screenshots show the spec.
    env: { PATH: process.env.PATH, HOME: process.env.HOME ?? tmp, WEFT_SERVER: url, WEFT_TOKEN: token,
      WEFT_CONFIG: path.join(tmp, 'no-config.json') },
  });
  return Number(String(out).trim());
}

// A job script that prints, then holds its resources until the test creates release-<tag>.
const holding = (tag, directives, lines = []) => `#!/bin/bash
${directives.map((d) => `#SBATCH ${d}`).join('\n')}
${lines.map((l) => `echo "${l}"`).join('\n')}
while [ ! -e "${work}/release-${tag}" ]; do sleep 0.1; done
echo "finished ${tag}"
`;
const release = (tag) => fs.writeFileSync(path.join(work, `release-${tag}`), '');

async function jobState(id) { return (await rest(`/v1/jobs/${id}`)).state; }

async function shoot(name, fullPage = false) {
  fs.mkdirSync(shots, { recursive: true });
  await page.mouse.move(1, 850);  // no hover highlight in the picture
  await page.screenshot({ path: path.join(shots, `${name}.png`), fullPage });
}

async function goto(hash) {
  await page.evaluate((h) => { window.location.hash = h; }, hash);
}


// Minimal auto-waiting assertions over playwright locators (playwright-core has no `expect`).
async function visible(locator, ms = TIMEOUT) {
  await locator.first().waitFor({ state: 'visible', timeout: ms });
}
async function hasText(locator, text, ms = TIMEOUT) {
  await waitFor(`${locator} to contain "${text}"`, async () => {
    const all = await locator.allTextContents().catch(() => []);
    return all.some((t) => t.includes(text));
  }, ms);
}
async function gone(locator, ms = TIMEOUT) {
  await locator.first().waitFor({ state: 'detached', timeout: ms });
}

before(async () => {
  if (skip) return;
  fs.mkdirSync(work, { recursive: true });
  start('server', ['server', '--listen', '127.0.0.1:0', '--state-dir', stateDir, '--node-timeout', '2']);
  const address = path.join(stateDir, 'address');
  await waitFor('the server to write its address', () => fs.existsSync(address) && fs.readFileSync(address, 'utf8').trim());
  url = fs.readFileSync(address, 'utf8').trim();
  token = fs.readFileSync(path.join(stateDir, 'token'), 'utf8').trim();
  for (const [i, labels] of [[1, 'zone=a,rack=r1'], [2, 'zone=b,rack=r2']]) {
    start(`agent${i}`, ['agent', '--server', url, '--join-token-file', path.join(stateDir, 'join_token'), '--name', `node-${i}`,
      '--cpus', '4', '--memory', '4G', '--gpus', '4', '--labels', labels, '--work-dir', path.join(tmp, `agent${i}`),
      '--address', `127.0.0.${i}`, '--heartbeat', '0.5', '--kill-wait', '2']);
  }
  await waitFor('both agents to register', async () => (await rest('/v1/nodes')).nodes.filter((n) => n.state === 'UP').length === 2);
  browser = await playwright.chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  page = await browser.newPage({ viewport: { width: 1360, height: 860 } });
  page.on('dialog', (dialog) => dialog.accept());
  page.on('pageerror', (error) => pageErrors.push(String(error)));
  page.on('console', (message) => {
    // The one expected error: the wrong token tried at sign-in answers 401.
    if (message.type() === 'error' && !message.text().includes('401')) pageErrors.push(message.text());
  });  // the cancel buttons confirm first
  // The dashboard must not reach the internet: every request goes to this server.
  page.on('request', (request) => {
    if (!request.url().startsWith(url) && !request.url().startsWith('data:')) outside.push(request.url());
  });
});

after(async () => {
  if (pageErrors.length) console.log(`page errors:\n${pageErrors.join('\n')}`);
  for (const tag of ['A', 'B', 'C']) if (fs.existsSync(work)) release(tag);  // lets any task end
  if (browser) await browser.close();
  for (const { proc } of children.filter((c) => c.name !== 'server')) await stop(proc);
  for (const { proc } of children.filter((c) => c.name === 'server')) await stop(proc);
  if (process.env.WEFT_E2E_KEEP) console.log(`kept ${tmp}`);
  else fs.rmSync(tmp, { recursive: true, force: true });
});

test('dashboard: sign in, watch jobs, follow logs, cancel, see a node go down', { skip: skip || false, timeout: 180_000 }, async (t) => {
  await t.test('the page loads without a token and asks for one', async () => {
    await page.goto(`${url}/`);
    await visible(page.locator('#login'));
    await shoot('login');
    const api = await fetch(`${url}/v1/jobs`);
    assert.equal(api.status, 401, 'the API still needs the token');
    await page.fill('#token', 'not-the-token');
    await page.click('#login button[type=submit]');
    await hasText(page.locator('#login-error'), 'not valid');
    await page.fill('#token', token);
    await page.click('#login button[type=submit]');
    await visible(page.locator('#nav'));
    assert.equal(await page.evaluate(() => sessionStorage.getItem('weft.token')), token);
  });

  const a = submit('a.sh', holding('A', ['-J logger', '--gpus-per-node=1', '-c 1', '--mem=64M'], ['line 1', 'line 2', 'line 3']));
  const b = submit('b.sh', holding('B', ['-J trainer', '--gpus-per-node=2', '-c 1', '--mem=64M']));
  // Needs every GPU of both nodes: pending while A and B hold some.
  const c = submit('c.sh', holding('C', ['-J big', '-N 2', '--gpus-per-node=4', '-c 1', '--mem=64M']));

  await t.test('cluster: nodes with their GPUs coloured by the job holding them', async () => {
    await goto('#/cluster');
    await hasText(page.locator('.page-cluster tbody tr'), 'node-1');
    await hasText(page.locator('.page-cluster tbody tr'), 'node-2');
    await visible(page.locator(`.gpu.held[data-job="${a}"]`));
    await waitFor('two GPUs held by B', async () => (await page.locator(`.gpu.held[data-job="${b}"]`).count()) === 2);
    await hasText(page.locator('.stat'), '3 / 8');
    await hasText(page.locator('.stat'), '1 pending');
    await hasText(page.locator('.page-cluster td'), 'zone=a');
    await visible(page.locator('.chart polyline'));
    await shoot('cluster');
  });

  await t.test('queue: running and pending jobs with priority and reason', async () => {
    await page.click('#nav a[data-page=queue]');
    const row = (id) => page.locator(`tr[data-key="${id}"]`);
    await visible(row(a));
    await visible(row(b));
    await visible(row(c));
    await hasText(row(c), 'big');
    await hasText(page.locator('h2'), 'Pending (1)');
    await hasText(page.locator('h2'), 'Running (2)');
    await visible(row(b).locator(`button[data-cancel="${b}"]`));
    await shoot('queue');
  });

  await t.test('queues: quota and usage', async () => {
    await page.click('#nav a[data-page=queues]');
    await hasText(page.locator('.page-queues tbody tr'), 'default');
    await hasText(page.locator('.page-queues tbody tr'), '3 ');
    await shoot('queues');
  });

  await t.test('job: live logs follow the running job, then it finishes', async () => {
    await goto(`#/jobs/${a}`);
    await hasText(page.locator('#log'), 'line 3');
    await hasText(page.locator('.log-status'), 'following');
    assert.equal(await jobState(a), 'RUNNING', 'the log was read while the job ran');
    await hasText(page.locator('.timeline'), 'submitted');
    await hasText(page.locator('.page-jobs dl'), 'node-');
    await shoot('job', true);
    release('A');
    await hasText(page.locator('#log'), 'finished A');
    await hasText(page.locator('.log-status'), 'end of log');
    await hasText(page.locator('.title-row .badge'), 'COMPLETED');
    await hasText(page.locator('.timeline'), 'run 1 ended');
    await hasText(page.locator('.page-jobs table'), 'COMPLETED');  // the attempts' accounting row
  });

  await t.test('queue: a finished job shows under its state', async () => {
    await goto('#/queue');
    await page.selectOption('select[aria-label=State]', 'COMPLETED');
    await visible(page.locator(`tr[data-key="${a}"]`));
    await hasText(page.locator(`tr[data-key="${a}"]`), 'COMPLETED');
    await page.selectOption('select[aria-label=State]', '');
  });

  await t.test('queue: cancel a running job from the page', async () => {
    const button = page.locator(`tr[data-key="${b}"] button[data-cancel="${b}"]`);
    await visible(button);
    await button.click();
    await waitFor('B to be cancelled', async () => (await jobState(b)) === 'CANCELLED');
    await gone(page.locator(`tr[data-key="${b}"]`));
    // With A and B gone, C gets both nodes; cancel it from its own page.
    await waitFor('C to start', async () => (await jobState(c)) === 'RUNNING');
    await goto(`#/jobs/${c}`);
    await page.locator('#cancel-job').click();
    await waitFor('C to be cancelled', async () => (await jobState(c)) === 'CANCELLED');
    await hasText(page.locator('.title-row .badge'), 'CANCELLED');
    await waitFor('every GPU free', async () => (await rest('/v1/nodes')).nodes.every((n) => n.allocated.gpus === 0));
  });

  await t.test('services: a placeholder', async () => {
    await page.click('#nav a[data-page=services]');
    await hasText(page.locator('.page-services'), 'not available yet');
    await shoot('services');
  });

  await t.test('cluster: a node whose agent dies goes DOWN', async () => {
    await page.click('#nav a[data-page=cluster]');
    await hasText(page.locator('tr[data-key="node-2"] .badge'), 'UP');
    await stop(children.find((ch) => ch.name === 'agent2').proc, 'SIGKILL');
    await hasText(page.locator('tr[data-key="node-2"] .badge'), 'DOWN', 15_000);
    await hasText(page.locator('tr[data-key="node-1"] .badge'), 'UP');
    await hasText(page.locator('.stat'), '1 down');
    await shoot('cluster-node-down');
  });

  assert.deepEqual(outside, [], 'the dashboard loads nothing from outside Weft');
});
