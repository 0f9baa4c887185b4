// jobq dashboard: polls the worker's JSON API (docs/api.md) and draws the
// queues, a throughput chart, the workers and the dead list. Changes send
// the admin token the operator typed, kept in sessionStorage only.
'use strict';

const POLL_MS = 2000;
const CHART_POINTS = 60; // two minutes at POLL_MS
const TOKEN_KEY = 'jobq.adminToken';
const COLORS = { done: '#2a7ae2', failed: '#d9534f', axis: '#d9dee7', text: '#667085' };

const $ = (id) => document.getElementById(id);
const history = []; // {t, done, failed}
let deadQueue = null;

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function say(text, isError) {
  const m = $('message');
  m.textContent = text || '';
  m.className = 'message' + (isError ? ' error' : '');
}

function age(seconds) {
  if (!seconds) return '–';
  if (seconds < 60) return seconds.toFixed(1) + ' s';
  if (seconds < 3600) return (seconds / 60).toFixed(1) + ' min';
  return (seconds / 3600).toFixed(1) + ' h';
}

async function getJSON(path) {
  const r = await fetch(path, { cache: 'no-store' });
  if (!r.ok) throw new Error(path + ': HTTP ' + r.status);
  return r.json();
}

// A change: POST with the bearer token; the answer (or its error) is shown.
async function change(path, body) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) {
    say('enter the admin token first (changes need it)', true);
    return null;
  }
  const r = await fetch(path, {
    method: 'POST',
    headers: { 'Authorization': 'Bearer ' + token, 'Content-Type': 'application/json' },
    body: JSON.stringify(body || {}),
  });
  let data = null;
  try { data = await r.json(); } catch (e) { data = null; }
  if (!r.ok) {
    say(path + ': ' + ((data && data.error) || ('HTTP ' + r.status)), true);
    return null;
  }
  say(path + ': ' + JSON.stringify(data), false);
  await refresh();
  return data;
}

const q = (name) => '/api/queues/' + encodeURIComponent(name);

function queueRow(x) {
  const tr = el('tr');
  tr.dataset.queue = x.name;
  tr.append(el('td', x.name));
  for (const k of ['pending', 'delayed', 'active', 'dead']) {
    const td = el('td', x[k]);
    td.dataset.field = k;
    tr.append(td);
  }
  tr.append(el('td', age(x.oldest_age_s)));
  tr.append(el('td', x.rates.processed_per_s.toFixed(1)));
  tr.append(el('td', x.rates.failed_per_s.toFixed(1)));
  tr.append(el('td', x.counters.processed));
  tr.append(el('td', x.paused ? 'paused' : 'running', x.paused ? 'paused' : ''));
  const actions = el('td');
  const pause = el('button', x.paused ? 'resume' : 'pause');
  pause.dataset.action = x.paused ? 'resume' : 'pause';
  pause.addEventListener('click', () => change(q(x.name) + '/' + pause.dataset.action));
  const state = el('select');
  for (const s of ['pending', 'delayed', 'dead']) state.append(new Option(s, s));
  const purge = el('button', 'purge');
  purge.dataset.action = 'purge';
  purge.addEventListener('click', () => {
    if (window.confirm('Delete every ' + state.value + ' job of ' + x.name + '?'))
      change(q(x.name) + '/purge', { state: state.value });
  });
  actions.append(pause, state, purge);
  tr.append(actions);
  return tr;
}

function drawChart() {
  const c = $('chart');
  const g = c.getContext('2d');
  const w = c.width, h = c.height, pad = 36;
  g.clearRect(0, 0, w, h);
  let max = 1;
  for (const p of history) max = Math.max(max, p.done, p.failed);
  max = Math.ceil(max * 1.1);
  g.strokeStyle = COLORS.axis;
  g.fillStyle = COLORS.text;
  g.font = '11px sans-serif';
  g.lineWidth = 1;
  for (let i = 0; i <= 4; i++) {
    const y = pad / 2 + (h - pad) * i / 4;
    g.beginPath(); g.moveTo(pad, y); g.lineTo(w - 8, y); g.stroke();
    g.fillText(String(Math.round(max * (4 - i) / 4)), 4, y + 4);
  }
  const x = (i) => pad + (w - pad - 8) * i / (CHART_POINTS - 1);
  const y = (v) => pad / 2 + (h - pad) * (1 - v / max);
  const start = CHART_POINTS - history.length;
  for (const [key, color] of [['failed', COLORS.failed], ['done', COLORS.done]]) {
    if (history.length < 1) continue;
    g.strokeStyle = color;
    g.lineWidth = 2;
    g.beginPath();
    history.forEach((p, i) => {
      const px = x(start + i), py = y(p[key]);
      if (i === 0) g.moveTo(px, py); else g.lineTo(px, py);
    });
    if (history.length === 1) g.lineTo(x(start) + 2, y(history[0][key]));
    g.stroke();
  }
}

function renderQueues(data) {
  const body = $('queues').querySelector('tbody');
  body.replaceChildren(...data.queues.map(queueRow));
  let done = 0, failed = 0;
  for (const x of data.queues) {
    done += x.rates.processed_per_s;
    failed += x.rates.failed_per_s;
  }
  history.push({ t: Date.now(), done, failed });
  while (history.length > CHART_POINTS) history.shift();
  drawChart();
  const sel = $('dead-queue');
  const names = data.queues.map((x) => x.name);
  if ([...sel.options].map((o) => o.value).join() !== names.join()) {
    sel.replaceChildren(...names.map((n) => new Option(n, n)));
    if (deadQueue && names.includes(deadQueue)) sel.value = deadQueue;
  }
  deadQueue = sel.value || names[0] || null;
}

function renderWorkers(data) {
  const rows = data.workers.map((x) => {
    const tr = el('tr', null, x.alive ? '' : 'dead-worker');
    tr.append(el('td', x.id + (x.self ? ' (this one)' : '')));
    tr.append(el('td', x.queues.join(', ')));
    tr.append(el('td', x.alive ? 'expires in ' + x.expires_in_s.toFixed(1) + ' s'
                               : 'lapsed ' + (-x.expires_in_s).toFixed(1) + ' s ago'));
    tr.append(el('td', x.active));
    tr.append(el('td', x.inflight ? x.inflight.cpu + ' / ' + x.inflight.io : '–'));
    tr.append(el('td', x.self ? x.cpu_threads_busy + ' of ' + x.cpu_threads : '–'));
    return tr;
  });
  $('workers').querySelector('tbody').replaceChildren(...rows);
}

function renderDead(data) {
  const rows = data.dead.map((r) => {
    const tr = el('tr');
    const box = el('input');
    box.type = 'checkbox';
    box.value = r.id || '';
    box.disabled = !r.id;
    const cell = el('td');
    cell.append(box);
    tr.append(cell, el('td', r.id || '?'), el('td', r.type || '?'),
              el('td', r.error, 'err'),
              el('td', r.at ? new Date(r.at).toLocaleString() : ''),
              el('td', r.worker || ''));
    return tr;
  });
  $('dead').querySelector('tbody').replaceChildren(...rows);
}

async function refresh() {
  try {
    const [queues, workers] = await Promise.all([getJSON('/api/queues'), getJSON('/api/workers')]);
    renderQueues(queues);
    renderWorkers(workers);
    if (deadQueue) renderDead(await getJSON(q(deadQueue) + '/dead?limit=100'));
    const s = $('status');
    s.textContent = queues.redis_up ? 'live · ' + new Date().toLocaleTimeString()
                                    : 'Redis unreachable';
    s.className = 'status' + (queues.redis_up ? '' : ' down');
    document.body.dataset.ready = '1';
  } catch (e) {
    const s = $('status');
    s.textContent = 'worker unreachable';
    s.className = 'status down';
  }
}

function setup() {
  $('token-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const v = $('token').value.trim();
    if (v) sessionStorage.setItem(TOKEN_KEY, v);
    $('token').value = '';
    say(v ? 'token kept for this tab' : '', false);
  });
  $('token-forget').addEventListener('click', () => {
    sessionStorage.removeItem(TOKEN_KEY);
    say('token forgotten', false);
  });
  $('dead-queue').addEventListener('change', (ev) => { deadQueue = ev.target.value; refresh(); });
  $('dead-retry-selected').addEventListener('click', () => {
    const ids = [...$('dead').querySelectorAll('input:checked')].map((b) => b.value);
    if (!ids.length) { say('select dead jobs first', true); return; }
    change(q(deadQueue) + '/dead/retry', { ids });
  });
  $('dead-retry-all').addEventListener('click', () => change(q(deadQueue) + '/dead/retry', { all: true }));
  $('dead-purge').addEventListener('click', () => {
    if (window.confirm('Delete every dead job of ' + deadQueue + '?'))
      change(q(deadQueue) + '/purge', { state: 'dead' });
  });
  drawChart();
  refresh();
  setInterval(refresh, POLL_MS);
}

setup();
