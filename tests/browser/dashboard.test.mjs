// The dashboard in real headless Chromium (Debian's /usr/bin/chromium,
// driven by playwright-core): a private redis-server and a jobq-worker are
// started on free loopback ports and stopped by PID. Checks that the page
// loads without console errors, that its depths match Redis, that the
// throughput chart draws a non-zero rate, and that pausing a queue and
// retrying a dead job from the page reach Redis. Saves a screenshot in
// tests/browser/out/. Usage: node dashboard.test.mjs (JOBQ_WORKER and
// JOBQ_CLI name the binaries; default build/).
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..', '..');
const WORKER = process.env.JOBQ_WORKER || join(ROOT, 'build', 'jobq-worker');
const CLI = process.env.JOBQ_CLI || join(ROOT, 'build', 'jobq');
const OUT = join(HERE, 'out');
const TOKEN = 'browser-test-token-0123456789';
const SLOW = Number(process.env.JOBQ_TEST_SLOWDOWN || '1');
const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu',
  '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--no-first-run'];

const children = [];
let failures = 0;

function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.on('error', fail);
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => ok(p)); });
  });
}

const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));

// Polls cond until it returns a truthy value, failing at the deadline.
async function waitUntil(cond, seconds, what) {
  const deadline = Date.now() + seconds * 1000 * SLOW;
  let last;
  while (Date.now() < deadline) {
    try { last = await cond(); if (last) return last; } catch (e) { last = e; }
    await sleep(50);
  }
  throw new Error(`timed out after ${seconds * SLOW}s waiting for ${what} (last: ${last})`);
}

function check(ok, what) {
  if (ok) { console.log('ok   ' + what); return; }
  failures++;
  console.log('FAIL ' + what);
}

let redisPort;
const rcli = (...args) => execFileSync('redis-cli', ['-p', String(redisPort), ...args],
  { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
const k = (q, name) => `jobq:{${q}}:${name}`;
const enqueue = (q, type, args) =>
  execFileSync(CLI, ['--redis', `redis://127.0.0.1:${redisPort}`, 'enqueue', q, type, JSON.stringify(args)]);

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'jobq-browser-'));
  redisPort = await freePort();
  const redis = spawn('redis-server', ['--bind', '127.0.0.1', '--port', String(redisPort),
    '--dir', dir, '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  children.push(redis);
  await waitUntil(() => { try { return rcli('PING') === 'PONG'; } catch { return false; } }, 10, 'redis');

  const httpPort = await freePort();
  const base = `http://127.0.0.1:${httpPort}`;
  const logFile = join(dir, 'worker.log');
  const worker = spawn(WORKER, ['--redis', `redis://127.0.0.1:${redisPort}`, '--queues', 'default,bulk',
    '--http', `127.0.0.1:${httpPort}`, '--admin-token', TOKEN, '--log-file', logFile],
  { stdio: 'inherit' });
  children.push(worker);
  await waitUntil(async () => (await fetch(base + '/readyz')).status === 200, 10, 'worker ready');

  // default: jobs that finish ok and two that die; bulk: paused, 3 waiting.
  // A pause holds once the worker has seen it: a blocking take already
  // waiting may still hand over a frame within a second (docs/protocol.md).
  const seen = (q) => waitUntil(() => readFileSync(logFile, 'utf8').includes(`queue ${q} paused (`),
    10, `the worker seeing ${q} paused`);
  rcli('SET', k('bulk', 'paused'), '1');
  await seen('bulk');
  for (let i = 0; i < 3; i++) enqueue('bulk', 'math.sum_squares', { n: i });
  for (let i = 0; i < 20; i++) enqueue('default', 'math.sum_squares', { n: i });
  enqueue('default', 'user.validate', { username: 'x' });
  enqueue('default', 'user.validate', { username: 'y' });
  await waitUntil(() => rcli('LLEN', k('default', 'dead')) === '2', 20, 'two dead jobs');

  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true,
    args: CHROMIUM_FLAGS });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 1100 } });
    const errors = [];
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('requestfailed', (r) => errors.push('request failed: ' + r.url()));
    await page.goto(base + '/');
    await page.waitForSelector('body[data-ready="1"]', { timeout: 10000 * SLOW });

    // Depths as Redis has them.
    const cell = (q, f) => page.textContent(`#queues tr[data-queue="${q}"] td[data-field="${f}"]`);
    const match = async () => (await cell('bulk', 'pending')) === rcli('LLEN', k('bulk', 'pending')) &&
      (await cell('default', 'dead')) === rcli('LLEN', k('default', 'dead')) &&
      (await cell('bulk', 'pending')) === '3';
    check(await waitUntil(match, 10, 'depths on the page').catch(() => false),
      'queue depths on the page match Redis (bulk pending 3, default dead 2)');
    check((await page.textContent('#queues tr[data-queue="bulk"]')).includes('paused'),
      'the paused queue shows as paused');

    // Throughput: keep jobs coming until the chart draws a rate above zero
    // in the line colour (#2a7ae2) above the baseline.
    const blueAboveBaseline = () => page.evaluate(() => {
      const c = document.getElementById('chart');
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      const baseline = 18 + (c.height - 36) - 6;
      let n = 0;
      for (let y = 0; y < baseline; y++)
        for (let x = 0; x < c.width; x++) {
          const i = (y * c.width + x) * 4;
          if (Math.abs(d[i] - 42) < 30 && Math.abs(d[i + 1] - 122) < 30 && Math.abs(d[i + 2] - 226) < 30) n++;
        }
      return n;
    });
    let drawn = 0;
    for (let round = 0; round < 20 && !drawn; round++) {
      for (let i = 0; i < 40; i++) enqueue('default', 'math.sum_squares', { n: i });
      drawn = await waitUntil(blueAboveBaseline, 1.5, 'chart').catch(() => 0);
    }
    check(drawn > 0, `the throughput chart draws a non-zero rate (${drawn} line pixels above the baseline)`);
    check((await page.textContent('#workers')).includes('(this one)'), 'the worker is listed with its heartbeat');

    // The operator's token, then pause default from its row.
    await page.fill('#token', TOKEN);
    await page.click('#token-form button[type="submit"]');
    await page.click('#queues tr[data-queue="default"] button[data-action="pause"]');
    check(await waitUntil(() => rcli('EXISTS', k('default', 'paused')) === '1', 10, 'pause')
      .catch(() => false), 'pause from the page sets the paused key');
    await seen('default');

    // Retry one dead job from the page: it goes back to pending.
    await page.selectOption('#dead-queue', 'default');
    await page.waitForSelector('#dead tbody input[type="checkbox"]', { timeout: 10000 * SLOW });
    const id = await page.getAttribute('#dead tbody input[type="checkbox"]', 'value');
    await page.check(`#dead tbody input[value="${id}"]`);
    const pendingBefore = Number(rcli('LLEN', k('default', 'pending')));
    await page.click('#dead-retry-selected');
    const back = await waitUntil(() => Number(rcli('LLEN', k('default', 'pending'))) === pendingBefore + 1 &&
      rcli('LLEN', k('default', 'dead')) === '1', 10, 'retry').catch(() => false);
    const frames = rcli('--no-raw', 'LRANGE', k('default', 'pending'), '0', '-1');
    check(back && frames.includes(id), `retrying dead job ${id} from the page puts it back in pending`);
    await waitUntil(async () => (await page.textContent('#message')).includes('"retried":1'), 5, 'message')
      .catch(() => false);

    mkdirSync(OUT, { recursive: true });
    await page.screenshot({ path: join(OUT, 'dashboard.png'), fullPage: true });
    console.log('screenshot: ' + join(OUT, 'dashboard.png'));
    check(errors.length === 0, 'no console errors' + (errors.length ? ': ' + errors.join(' | ') : ''));
  } finally {
    await browser.close();
  }
  const log = readFileSync(logFile, 'utf8');
  check(!/ error /.test(log), 'the worker logged no error');
  rmSync(dir, { recursive: true, force: true });
}

// The worker first (it returns its frames to Redis), then redis-server; each
// by its PID, killed if it has not exited within 30 s.
async function stopAll() {
  for (const c of children.reverse()) {
    if (c.exitCode !== null || c.signalCode !== null) continue;
    const done = new Promise((ok) => c.once('exit', ok));
    process.kill(c.pid, 'SIGTERM');
    const t = setTimeout(() => process.kill(c.pid, 'SIGKILL'), 30000);
    await done;
    clearTimeout(t);
  }
}

main().then(async () => { await stopAll(); process.exitCode = failures ? 1 : 0; },
  async (e) => { console.error(e); await stopAll(); process.exitCode = 1; });
