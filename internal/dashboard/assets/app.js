// bgtask dashboard: a live view of one `bgtask serve`, built on its /v1 API
// alone. How it stays fast with 10,000 tasks: docs/dashboard.md.
//
// Two views, routed by the URL's hash so that every view has an address
// (deep links, the back button): the task list, #/?state=&name=&id=
// (filters applied by the server), and one task, #/task/<id>.
//
// Every change (an event from the stream, a record from the API) is queued
// and applied once per animation frame, in arrival order; the frame then
// redraws only the rows on screen whose task changed. The task list is
// virtual: fixed-height rows, only the visible window in the DOM.
'use strict';

const HEAD_HEIGHT = 28;      // px, the sticky column headers above the rows
const OVERSCAN = 6;          // rows drawn beyond each edge of the viewport
const FIRST_PAGE = 200;      // tasks in the first GET /v1/tasks page
const PAGE_SIZE = 1000;      // tasks per "Load more" (the API's maximum)
const MAX_TASKS = 5000;      // tasks kept in memory; beyond, the oldest finished ones are dropped
const MAX_LOG = 200;         // entries in the event log
const MAX_TASK_LOG = 500;    // entries in one task's event log
const LOG_EVERY = 250;       // ms, at least, between two redraws of the event log
const NEWEST_EVERY = 5000;   // ms between refreshes of the newest tasks (a queued task sends no event)
const STATS_EVERY = 1000;    // ms, at least, between two GET /v1/stats
const NAMES_EVERY = 5000;    // ms between two GET /v1/stats/names (it may read an index key per task)
const CHART_EVERY = 10000;   // ms between two GET /v1/throughput
const SERVERS_EVERY = 5000;  // ms between two GET /v1/servers
const REFETCH_AFTER = 500;   // ms, at least, between two GET /v1/tasks/{id} of one task
const RETRY_FAILED = 5000;   // ms before fetching again a task whose fetch failed
const FETCHES = 4;           // GET /v1/tasks/{id} in flight at most
const MAX_STEPS = 10000;     // a unitless total above this is shown as a percentage, not "Task N of M"
const KINDS = ['started', 'updated', 'done', 'failed', 'cancelled', 'partial_success'];
const STATES = ['ONGOING', 'SUCCESS', 'FAILURE', 'CANCELLED'];
const LABELS = { ONGOING: 'Ongoing', SUCCESS: 'Success', FAILURE: 'Failure', CANCELLED: 'Cancelled' };
const TERMINAL = new Set(STATES.slice(1));
// Record fields that events do not carry.
const STATIC = ['name', 'args', 'priority', 'created_at', 'idempotency_key', 'timeout', 'tags', 'max_attempts'];
const TOKEN_KEY = 'bgtask-token';

const $ = (id) => document.getElementById(id);

// The token: from ?access_token= (then moved out of the address, so that it
// stays out of the history and of screenshots) or from this tab's session.
let token = '';
{
  const q = new URLSearchParams(location.search);
  token = q.get('access_token') || sessionStorage.getItem(TOKEN_KEY) || '';
  if (q.has('access_token')) {
    sessionStorage.setItem(TOKEN_KEY, token);
    q.delete('access_token');
    history.replaceState(history.state, '', location.pathname + (q.size ? '?' + q : '') + location.hash);
  }
}

// ---- Model ----------------------------------------------------------------

const tasks = new Map();  // id → record as the API returns it, plus _evAt, _stale, _partial, _owned, _fetchedAt
let order = [];           // ids, newest first (task IDs are UUIDv7: they sort by creation time)
let view = order;         // order less the tasks the filter hides
let viewChanged = true;
const dirty = new Set();  // ids whose row must be redrawn
const log = [];           // events, oldest first, trimmed to MAX_LOG
let logAdded = 0;         // events logged since the last frame
const defs = new Map();   // definition name → definition
let counts = {};          // GET /v1/stats
let nameCounts = {};      // GET /v1/stats/names
let filter = { state: '', name: '', id: '' };
let cursor = '';          // next page of GET /v1/tasks
let listEnd = false;      // the last page is loaded
let truncated = false;    // old tasks were dropped to stay within MAX_TASKS
let loading = false;
let listed = false;       // the first page is in
let missed = false;       // events of unknown tasks came before it
let generation = 0;       // a filter change bumps it: answers to older requests are dropped
let arrivals = 0;         // events received so far
let queue = [];           // changes waiting for the next frame
let authFailed = false;
let started = false;      // the app runs (signed in)
let route = { view: '' }; // the current view, from the hash

class APIError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

// api calls the server and returns its JSON; errors carry the server's
// {"error":{"code","message"}}.
async function api(path, { method = 'GET', body } = {}) {
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = 'Bearer ' + token;
  // The server refuses writes without it, bodiless cancel and retry too:
  // no cross-site page can send it without a CORS preflight.
  if (method !== 'GET') headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new APIError(0, 'network', 'cannot reach the server');
  }
  let data = null;
  try { data = await res.json(); } catch { /* not JSON */ }
  if (!res.ok) {
    const err = (data && data.error) || {};
    const e = new APIError(res.status, err.code || 'http_' + res.status, err.message || res.statusText);
    if (res.status === 401 && started) unauthorized(e);
    throw e;
  }
  return data;
}

function norm(r) {
  r.args ??= []; r.subtasks ??= []; r.error ??= ''; r.owner ??= ''; r.tags ??= [];
  r.idempotency_key ??= ''; r.timeout ??= ''; r.exit_code ??= null; r.max_attempts ??= 0;
  r.progress ??= { current: 0, total: 0, message: '' };
  r.cancel_requested = !!r.cancel_requested;
  r._owned = !!r.owner;
  return r;
}

// blank is a task known only from an event, until its record is fetched.
function blank(id, name) {
  const ms = parseInt(id.replace(/-/g, '').slice(0, 12), 16); // UUIDv7: Unix ms first
  return norm({ id, name, state: 'ONGOING', priority: '', attempt: 0, created_at: isNaN(ms) ? null : new Date(ms).toISOString(),
    started_at: null, finished_at: null, heartbeat_at: null, _partial: true, _stale: true });
}

function filtered() { return !!(filter.state || filter.name || filter.id); }

function matches(t) {
  return (!filter.state || t.state === filter.state) && (!filter.name || t.name === filter.name) &&
    (!filter.id || t.id.startsWith(filter.id));
}

function insert(t) {
  tasks.set(t.id, t);
  let lo = 0, hi = order.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (order[mid] > t.id) lo = mid + 1; else hi = mid;
  }
  order.splice(lo, 0, t.id);
  viewChanged = true;
}

function remove(id) {
  if (!tasks.delete(id)) return;
  const i = order.indexOf(id);
  if (i >= 0) order.splice(i, 1);
  viewChanged = true;
}

function touched(t, prevState) {
  dirty.add(t.id);
  if (filter.state && t.state !== prevState) viewChanged = true;
}

// eventInto applies an event's fields to a record.
function eventInto(t, ev) {
  Object.assign(t, { state: ev.state, progress: ev.progress, attempt: ev.attempt });
  if (ev.kind === 'started') {
    Object.assign(t, { started_at: ev.time, finished_at: null, error: '', exit_code: null, _owned: true });
  } else if (ev.kind !== 'updated') {
    Object.assign(t, { finished_at: ev.time, error: ev.error || '', exit_code: ev.exit_code ?? null, cancel_requested: false, _owned: false });
    // A success names its failed subtasks: the others succeeded.
    const ok = ev.kind === 'done' || ev.kind === 'partial_success';
    for (const s of t.subtasks) {
      if (ev.subtask_errors && s.key in ev.subtask_errors) Object.assign(s, { state: 'FAILURE', error: ev.subtask_errors[s.key] });
      else if (ok) Object.assign(s, { state: 'SUCCESS', error: '' });
    }
  }
}

function applyEvent(ev, n) {
  addLog(ev);
  let t = tasks.get(ev.task_id);
  if (!t) {
    if (filtered() && !matches({ id: ev.task_id, name: ev.name, state: ev.state })) return;
    // Before the first page, or older than every loaded task: a page
    // will bring it.
    if (!listed) { missed = true; return; }
    if (!listEnd && order.length && ev.task_id < order[order.length - 1]) return;
    t = blank(ev.task_id, ev.name);
    insert(t);
  }
  const prev = t.state;
  t._evAt = n;
  eventInto(t, ev);
  // Events carry no subtasks, owner or heartbeat: fetch the record again
  // when its row is on screen.
  if (ev.kind !== 'updated' || t.subtasks.length || defs.get(t.name)?.parallel) t._stale = true;
  touched(t, prev);
}

// applyRecords merges API records; c0 is `arrivals` when the request was
// sent: a task that had an event since keeps the event's state (the record
// may be older) and is fetched again.
function applyRecords({ records, c0, gen, first }) {
  if (gen !== generation) return;
  if (first) {
    listed = true;
    if (missed) refreshNewest(); // tasks started while the page was on its way
    missed = false;
  }
  for (const r of records) {
    const t = tasks.get(r.id);
    if (!t) {
      if (filtered() && !matches(r)) continue;
      insert(Object.assign(r, { _evAt: 0, _stale: false, _partial: false }));
      touched(r, '');
    } else if ((t._evAt || 0) > c0) {
      for (const k of STATIC) t[k] = r[k];
      Object.assign(t, { _stale: true, _partial: false });
      touched(t, t.state);
    } else {
      const prev = t.state;
      Object.assign(t, r, { _stale: false, _partial: false });
      touched(t, prev);
    }
  }
}

// prune keeps at most MAX_TASKS tasks, dropping the oldest finished ones.
function prune() {
  if (tasks.size <= MAX_TASKS) return;
  for (let i = order.length - 1; i >= 0 && tasks.size > MAX_TASKS; i--) {
    const t = tasks.get(order[i]);
    if (TERMINAL.has(t.state)) {
      tasks.delete(t.id);
      order[i] = '';
    }
  }
  order = order.filter(Boolean);
  viewChanged = true;
  truncated = true;
  cursor = '';
}

function addLog(ev) {
  log.push(ev);
  if (log.length > 2 * MAX_LOG) log.splice(0, log.length - MAX_LOG);
  logAdded++;
}

// ---- The frame --------------------------------------------------------------

let scheduled = false;

function schedule() {
  if (scheduled) return;
  scheduled = true;
  // A hidden page gets no animation frames: a timer keeps the queue short.
  if (document.hidden) setTimeout(flush, 250); else requestAnimationFrame(flush);
}

let slowestFrame = 0;     // ms, the longest flush so far
let biggestBatch = 0;     // changes, the most applied in one flush

function flush() {
  const t0 = performance.now();
  scheduled = false;
  const batch = queue;
  queue = [];
  let events = false;
  for (const item of batch) {
    if (item.ev) { applyEvent(item.ev, item.n); events = true; }
    else if (item.gone) remove(item.gone);
    else applyRecords(item);
  }
  prune();
  render();
  if (events) statsSoon();
  slowestFrame = Math.max(slowestFrame, performance.now() - t0);
  biggestBatch = Math.max(biggestBatch, batch.length);
}

function merge(records, c0, gen, first = false) {
  queue.push({ records: records.map(norm), c0, gen, first });
  schedule();
}

function onEvent(m) {
  if (m.lastEventId) lastEventId = m.lastEventId;
  let ev;
  try { ev = JSON.parse(m.data); } catch { return; }
  queue.push({ ev, n: ++arrivals });
  schedule();
}

// ---- Labels -----------------------------------------------------------------

// Formatters are made once: making one costs more than using it.
const INT = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone || '';

function num(x) { return Number.isInteger(x) ? INT.format(x) : x.toFixed(1); }

function fmtPct(p) { return (p >= 10 || p === 0 ? Math.floor(p) : p.toFixed(1)) + ' %'; }

function fmtBytes(n) {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (Math.abs(n) >= 1000 && i < units.length - 1) { n /= 1000; i++; }
  return (i === 0 ? String(Math.round(n)) : n.toFixed(n < 10 ? 2 : 1)) + ' ' + units[i];
}

// progressLabel words a progress as its unit says (the definition's
// progress_unit): "Task N of M" for steps, sizes for bytes, a percentage
// for a percent or a unitless total too large to be steps.
function progressLabel(p, unit = '') {
  const cur = p.current, tot = p.total;
  if (tot > 0) {
    const pct = Math.max(0, Math.min(100, (100 * cur) / tot));
    if (unit === 'bytes') return `${fmtBytes(cur)} of ${fmtBytes(tot)} (${fmtPct(pct)})`;
    if (unit === 'percent') return fmtPct(pct);
    if (unit) return `${num(cur)} of ${num(tot)} ${unit}`;
    if (Number.isInteger(cur) && Number.isInteger(tot) && tot <= MAX_STEPS) return `Task ${cur} of ${tot}`;
    return fmtPct(pct);
  }
  if (!cur) return '';
  if (unit === 'bytes') return fmtBytes(cur);
  if (unit === 'percent') return fmtPct(cur);
  return unit ? `${num(cur)} ${unit}` : num(cur);
}

function unitOf(t) { return defs.get(t.name)?.progress_unit || ''; }

function fraction(t) {
  const p = t.progress;
  if (p.total > 0) return Math.min(1, Math.max(0, p.current / p.total));
  return t.state === 'SUCCESS' ? 1 : 0;
}

function isIdle(t) { return (t.priority || defs.get(t.name)?.priority) === 'idle'; }

// status is what a task is doing, in words: the badge, and a line under
// it (subtask counts, why it waits, the exit code).
function status(t) {
  if (t.state === 'ONGOING') {
    if (t.cancel_requested) return { badge: 'CANCELLING', text: 'cancel requested' };
    if (!t._owned) {
      return { badge: 'QUEUED', text: isIdle(t) ? 'queued; runs when the machine is idle' : 'queued; waiting for a worker' };
    }
    const p = t.progress;
    if (isIdle(t) && !p.current && !p.total && !p.message) return { badge: 'IDLE WAIT', text: 'waiting for idle time' };
  }
  const badge = t.state === 'ONGOING' ? 'RUNNING' : t.state;
  if (t.subtasks.length) {
    const n = {};
    for (const s of t.subtasks) n[s.state] = (n[s.state] || 0) + 1;
    const parts = [['SUCCESS', 'ok'], ['FAILURE', 'failed'], ['ONGOING', 'running'], ['CANCELLED', 'cancelled'], ['PENDING', 'pending']]
      .filter(([s]) => n[s]).map(([s, w]) => `${n[s]} ${w}`);
    return { badge, text: parts.join(', '), bad: !!n.FAILURE };
  }
  if (TERMINAL.has(t.state) && t.exit_code !== null && t.exit_code !== 0) return { badge, text: `exit ${t.exit_code}`, bad: true };
  return { badge, text: '' };
}

function attemptText(t) {
  const max = t.max_attempts || defs.get(t.name)?.max_attempts || 0;
  return max > 1 ? `${t.attempt}/${max}` : String(t.attempt);
}

// shortID is the end of an ID, for compact mentions (the list shows
// whole IDs: a UUIDv7 starts with its creation time, so tasks created
// together share their first 13 characters).
function shortID(id) { return '…' + id.slice(-8); }

const pad = (n, w = 2) => String(n).padStart(w, '0');

// fmtTime is the local time, with the date if not today.
function fmtTime(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  const hms = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  const today = new Date();
  const sameDay = d.getDate() === today.getDate() && d.getMonth() === today.getMonth() && d.getFullYear() === today.getFullYear();
  return sameDay ? hms : `${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${hms.slice(0, 5)}`;
}

// zoneText names the browser's time zone and its offset now: "Europe/Paris, UTC+01:00".
function zoneText(d = new Date()) {
  const off = -d.getTimezoneOffset();
  const o = `UTC${off < 0 ? '−' : '+'}${pad(Math.floor(Math.abs(off) / 60))}:${pad(Math.abs(off) % 60)}`;
  return ZONE && ZONE !== 'UTC' ? `${ZONE}, ${o}` : o;
}

// fmtFull is the local date and time to the millisecond.
function fmtFull(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

function setTime(el, iso) {
  if (el.dateTime === (iso || "") && el.textContent) return; // unchanged (a row re-filled with the same time)
  text(el, fmtTime(iso));
  attr(el, 'datetime', iso || '');
  attr(el, 'title', iso ? `${fmtFull(iso)} (${zoneText(new Date(iso))})` : '');
}

function fmtDuration(ms) {
  const s = ms / 1000;
  if (s < 10) return s.toFixed(2) + ' s';
  if (s < 60) return s.toFixed(1) + ' s';
  if (s < 3600) return `${Math.floor(s / 60)}m ${pad(Math.floor(s % 60))}s`;
  return `${Math.floor(s / 3600)}h ${pad(Math.floor((s % 3600) / 60))}m`;
}

function span(from, to, running) {
  if (!from) return '';
  const end = to ? Date.parse(to) : (running ? Date.now() : NaN);
  return isNaN(end) ? '' : fmtDuration(Math.max(0, end - Date.parse(from)));
}

function duration(t) { return span(t.started_at, t.finished_at, t.state === 'ONGOING'); }

function el(tag, content = '', cls = '') {
  const e = document.createElement(tag);
  e.textContent = content;
  if (cls) e.className = cls;
  return e;
}

function text(e, s) { if (e.textContent !== s) e.textContent = s; }

// attr sets an attribute only when it changes (a write invalidates style).
function attr(e, name, v) { if (e.getAttribute(name) !== v) e.setAttribute(name, v); }

// ---- The list -----------------------------------------------------------------

const scroller = $('scroller');
const rowsEl = $('rows');
const rowTemplate = $('row-template').content.firstElementChild;
const rows = new Map();  // id → drawn row
const pool = [];         // rows scrolled out, for reuse
let rowHeight = 0;       // px, from --row in app.css (taller at phone width)

let measure = true;      // read --row again (at start and after a resize)

function render() {
  if (route.view === 'list') {
    if (measure) {
      measure = false;
      const h = parseFloat(getComputedStyle(rowsEl).getPropertyValue('--row')) || 48;
      if (h !== rowHeight) {
        rowHeight = h;
        viewChanged = true;
        for (const row of rows.values()) row.index = -1;
      }
    }
    renderList(Math.max(0, scroller.scrollTop - HEAD_HEIGHT), scroller.clientHeight);
    renderLog();
    renderMore();
  }
  if (route.view === 'task') renderDetail();
}

function renderList(top, height) {
  if (viewChanged) {
    view = filtered() ? order.filter((id) => matches(tasks.get(id))) : order;
    rowsEl.style.height = view.length * rowHeight + 'px';
    $('table').setAttribute('aria-rowcount', String(view.length + 1));
    viewChanged = false;
  }
  const first = Math.max(0, Math.floor(top / rowHeight) - OVERSCAN);
  const last = Math.min(view.length, Math.ceil((top + height) / rowHeight) + OVERSCAN);
  const shown = new Set();
  for (let i = first; i < last; i++) {
    const id = view[i];
    const t = tasks.get(id);
    shown.add(id);
    let row = rows.get(id);
    if (!row) {
      row = pool.pop() || newRow();
      row.index = -1;
      row.el.dataset.id = id;
      rows.set(id, row);
      fillRow(row, t);
      rowsEl.append(row.el);
    } else if (dirty.has(id)) {
      fillRow(row, t);
    }
    if (row.index !== i) {
      row.index = i;
      row.el.style.transform = `translateY(${i * rowHeight}px)`;
      row.el.setAttribute('aria-rowindex', String(i + 2));
    }
    if (t._stale) want(t);
  }
  for (const [id, row] of rows) {
    if (shown.has(id)) continue;
    rows.delete(id);
    row.el.remove();
    pool.push(row);
  }
  dirty.clear();
}

function newRow() {
  const e = rowTemplate.cloneNode(true);
  const q = (s) => e.querySelector(s);
  return {
    el: e, id: q('.id'), name: q('.name'), args: q('.args'), badge: q('.badge'), subs: q('.subs'),
    bar: q('.bar'), fill: q('.fill'), pcount: q('.pcount'), pmsg: q('.pmsg'), attempt: q('.c-attempt'),
    created: q('.c-created time'), finished: q('.c-finished time'),
    duration: q('.c-duration'), error: q('.c-error'),
  };
}

function fillRow(r, t) {
  const cls = `row task ${t.state}`;
  if (r.el.className !== cls) r.el.className = cls;
  text(r.id, t.id);
  attr(r.id, 'href', '#/task/' + t.id);
  attr(r.id, 'title', t.id);
  attr(r.id, 'aria-label', `Task ${t.name} ${t.id}`);
  text(r.name, t.name);
  const args = t._partial ? '…' : t.args.join(' ');
  text(r.args, args);
  attr(r.args, 'title', args);
  const st = status(t);
  text(r.badge, st.badge);
  if (r.badge.className !== 'badge ' + t.state) r.badge.className = 'badge ' + t.state;
  text(r.subs, st.text);
  attr(r.subs, 'title', st.text);
  attr(r.subs, 'class', 'subs' + (st.bad ? ' st-FAILURE' : ''));
  const frac = fraction(t);
  const w = (100 * frac).toFixed(1) + '%';
  if (r.fill.style.width !== w) r.fill.style.width = w;
  const ptext = progressLabel(t.progress, unitOf(t));
  text(r.pcount, ptext);
  attr(r.bar, 'aria-valuenow', String(Math.round(100 * frac)));
  attr(r.bar, 'aria-valuetext', ptext || 'no progress');
  attr(r.bar, 'aria-label', `Progress of ${t.name} ${shortID(t.id)}`);
  text(r.pmsg, t.progress.message || '');
  attr(r.pmsg, 'title', t.progress.message || '');
  text(r.attempt, attemptText(t));
  setTime(r.created, t.created_at);
  setTime(r.finished, t.finished_at);
  text(r.duration, duration(t));
  text(r.error, t.error);
  attr(r.error, 'title', t.error);
}

let logAt = 0;            // when the event log was last drawn

// renderLog draws the event log, at most every LOG_EVERY: at hundreds of
// events a second, redrawing it every frame costs more than it shows.
function renderLog() {
  if (!logAdded) return;
  const now = performance.now();
  if (now - logAt < LOG_EVERY) { setTimeout(schedule, LOG_EVERY); return; }
  logAt = now;
  const k = Math.min(logAdded, MAX_LOG, log.length);
  logAdded = 0;
  const frag = document.createDocumentFragment();
  for (let i = log.length - 1; i >= log.length - k; i--) frag.append(logItem(log[i], true));
  const ol = $('log');
  if (k === MAX_LOG) { ol.replaceChildren(frag); return; }
  ol.prepend(frag);
  while (ol.childElementCount > MAX_LOG) ol.lastElementChild.remove();
}

function eventWhat(ev) {
  switch (ev.kind) {
    case 'started': return `attempt ${ev.attempt}`;
    case 'updated': return [progressLabel(ev.progress, defs.get(ev.name)?.progress_unit), ev.progress.message].filter(Boolean).join(' · ');
    case 'partial_success': return 'failed subtasks: ' + Object.keys(ev.subtask_errors || {}).join(', ');
    default: return ev.error || ev.message || ev.state;
  }
}

function logItem(ev, withTask) {
  const li = el('li');
  li.dataset.kind = ev.kind;
  li.dataset.id = ev.task_id;
  const when = el('time', withTask ? fmtTime(ev.time) : fmtFull(ev.time));
  when.dateTime = ev.time;
  const what = eventWhat(ev);
  li.append(when, el('span', ev.kind, 'k-' + ev.kind));
  if (withTask) {
    const s = el('span');
    const a = el('a', `${ev.name} ${shortID(ev.task_id)}`);
    a.title = ev.task_id;
    a.href = '#/task/' + ev.task_id;
    s.append(a, what ? ': ' + what : '');
    li.append(s);
  } else {
    li.append(el('span', what));
  }
  return li;
}

function renderMore() {
  const more = $('more');
  const full = truncated || tasks.size >= MAX_TASKS;
  more.disabled = loading || listEnd || full;
  more.textContent = listEnd ? 'All loaded' : full ? `Memory limit: newest ${MAX_TASKS} tasks kept` : `Load ${PAGE_SIZE} more`;
  const what = [filter.state && LABELS[filter.state].toLowerCase(), filter.name, filter.id && `ID ${filter.id}…`].filter(Boolean).join(', ');
  text($('loaded'), `${view.length} task${view.length === 1 ? '' : 's'} loaded${what ? ' (' + what + ')' : ''}`);
}

// ---- Counts, names, chart, servers --------------------------------------------------

function buildCounts() {
  const nav = $('counts');
  for (const st of ['', ...STATES]) {
    const b = el('button', st ? LABELS[st] : 'All', st ? 'st-' + st : '');
    b.type = 'button';
    b.dataset.state = st;
    b.append(el('span', '', 'n'));
    b.addEventListener('click', () => go(listHash({ ...filter, state: st })));
    nav.append(b);
  }
  renderCounts();
}

function renderCounts() {
  let total = 0;
  for (const st of STATES) total += counts[st] || 0;
  for (const b of $('counts').children) {
    const st = b.dataset.state;
    b.querySelector('.n').textContent = INT.format((st ? counts[st] || 0 : total));
    b.setAttribute('aria-pressed', String(route.view === 'list' && st === filter.state));
  }
}

function renderNames() {
  const names = [...new Set([...Object.keys(nameCounts), ...defs.keys()])].sort();
  const rowsOut = names.filter((n) => nameCounts[n]).map((n) => {
    const tr = el('tr');
    const th = el('th');
    th.scope = 'row';
    const a = el('a', n);
    a.href = listHash({ state: '', name: n, id: '' });
    th.append(a);
    tr.append(th);
    for (const st of STATES) {
      const c = nameCounts[n][st] || 0;
      const td = el('td', '', 'num');
      if (c) {
        const link = el('a', INT.format(c), 'st-' + st);
        link.href = listHash({ state: st, name: n, id: '' });
        link.setAttribute('aria-label', `${c} ${LABELS[st].toLowerCase()} ${n}`);
        td.append(link);
      } else {
        td.textContent = '0';
        td.className = 'num muted';
      }
      tr.append(td);
    }
    return tr;
  });
  $('names').tBodies[0].replaceChildren(...rowsOut);
  // The name filter offers every name known.
  const sel = $('q-name');
  const have = new Set([...sel.options].map((o) => o.value));
  for (const n of names) {
    if (have.has(n)) continue;
    const o = el('option', n);
    o.value = n;
    sel.append(o);
  }
  sel.value = filter.name;
}

const SVG = 'http://www.w3.org/2000/svg';

function renderChart(tp) {
  const svg = $('tp-svg');
  const W = 600, H = 120, n = tp.minutes.length, bw = W / n;
  let peak = 0, peakAt = null;
  const sums = { SUCCESS: 0, FAILURE: 0, CANCELLED: 0 };
  for (const m of tp.minutes) {
    let s = 0;
    for (const st of ['SUCCESS', 'FAILURE', 'CANCELLED']) { s += m.counts[st] || 0; sums[st] += m.counts[st] || 0; }
    if (s > peak) { peak = s; peakAt = m.start; }
  }
  const scale = peak ? (H - 4) / peak : 0;
  const parts = [];
  tp.minutes.forEach((m, i) => {
    let y = H;
    const g = document.createElementNS(SVG, 'g');
    const title = document.createElementNS(SVG, 'title');
    const at = new Date(m.start);
    title.textContent = `${pad(at.getHours())}:${pad(at.getMinutes())}: ` +
      ['SUCCESS', 'FAILURE', 'CANCELLED'].map((st) => `${m.counts[st] || 0} ${st.toLowerCase()}`).join(', ');
    g.append(title);
    const hit = document.createElementNS(SVG, 'rect');
    Object.entries({ x: i * bw, y: 0, width: bw, height: H, class: 'hit' }).forEach(([k, v]) => hit.setAttribute(k, v));
    g.append(hit);
    for (const st of ['SUCCESS', 'FAILURE', 'CANCELLED']) {
      const c = m.counts[st] || 0;
      if (!c) continue;
      const h = Math.max(1, c * scale);
      y -= h;
      const r = document.createElementNS(SVG, 'rect');
      Object.entries({ x: i * bw + 1, y, width: bw - 2, height: h, class: 'b-' + st }).forEach(([k, v]) => r.setAttribute(k, v));
      g.append(r);
    }
    parts.push(g);
  });
  svg.replaceChildren(...parts);
  const total = sums.SUCCESS + sums.FAILURE + sums.CANCELLED;
  let summary = `${INT.format(total)} finished in the last hour: ${INT.format(sums.SUCCESS)} success, ` +
    `${INT.format(sums.FAILURE)} failure, ${INT.format(sums.CANCELLED)} cancelled`;
  if (peak) summary += `; peak ${INT.format(peak)} in the minute of ${fmtTime(peakAt).slice(0, 5)}`;
  if (Date.parse(tp.since) > Date.parse(tp.minutes[0].start) + 60000) summary += ` (counted since ${fmtTime(tp.since)})`;
  text($('tp-summary'), summary + '.');
}

function renderServers(list) {
  const ul = $('servers');
  if (!list.length) { ul.replaceChildren(el('li', 'No live server announced.', 'muted')); return; }
  ul.replaceChildren(...list.map((s) => {
    const li = el('li');
    const head = el('p');
    head.append(el('strong', s.id), s.self ? el('span', ' (this server)', 'muted') : '',
      ` · ${s.host} pid ${s.pid} · ${s.running.length}/${s.max_workers} busy · up since ${fmtTime(s.started_at)}`);
    li.append(head);
    if (s.running.length) {
      const ol = el('ul', '', 'running');
      for (const id of s.running.slice(0, 8)) {
        const a = el('a', id, 'mono');
        a.href = '#/task/' + id;
        a.title = id;
        const item = el('li');
        item.append(a);
        ol.append(item);
      }
      if (s.running.length > 8) ol.append(el('li', `+${s.running.length - 8} more`, 'muted'));
      li.append(ol);
    }
    return li;
  }));
}

// ---- Routing ------------------------------------------------------------------------

function listHash(f) {
  const q = new URLSearchParams();
  if (f.state) q.set('state', f.state);
  if (f.name) q.set('name', f.name);
  if (f.id) q.set('id', f.id);
  return '#/' + (q.size ? '?' + q : '');
}

function parseHash() {
  const h = decodeURI(location.hash.replace(/^#\/?/, ''));
  if (h.startsWith('task/')) return { view: 'task', id: decodeURIComponent(h.slice(5)) };
  const q = new URLSearchParams(h.startsWith('?') ? h.slice(1) : '');
  const st = (q.get('state') || '').toUpperCase();
  return { view: 'list', state: STATES.includes(st) ? st : '', name: q.get('name') || '', id: (q.get('id') || '').toLowerCase() };
}

// go moves to a view (a history entry).
function go(hash) {
  if (location.hash === hash || (hash === '#/' && !location.hash)) { onRoute(); return; }
  location.hash = hash;
}

function show(which) {
  for (const v of ['login', 'list', 'task']) $('view-' + v).hidden = v !== which;
}

function onRoute() {
  if (!started) return;
  const r = parseHash();
  const was = route.view;
  route = r;
  if (r.view === 'task') {
    show('task');
    openDetail(r.id);
    if (was !== 'task') $('d-title').focus();
  } else {
    show('list');
    closeDetail();
    $('d-back').href = listHash(r); // back to the list as it was filtered
    document.title = 'bgtask dashboard';
    $('q-id').value = r.id;
    $('q-state').value = r.state;
    $('q-name').value = r.name;
    if (r.state !== filter.state || r.name !== filter.name || r.id !== filter.id) setFilter(r);
    viewChanged = true;
    for (const t of tasks.values()) dirty.add(t.id);
    refreshOverview();
  }
  renderCounts();
  schedule();
}

function setFilter(f) {
  filter = { state: f.state, name: f.name, id: f.id };
  generation++;
  tasks.clear();
  order = [];
  viewChanged = true;
  cursor = '';
  listEnd = false;
  listed = false;
  truncated = false;
  scroller.scrollTop = 0;
  loadPage(true);
}

// ---- Server calls ---------------------------------------------------------------

function listQuery(limit) {
  const q = new URLSearchParams({ limit: String(limit) });
  if (filter.state) q.set('state', filter.state);
  if (filter.name) q.set('name', filter.name);
  if (filter.id) q.set('id_prefix', filter.id);
  return q;
}

async function loadPage(first) {
  if (loading && !first) return;
  const gen = generation, c0 = arrivals;
  const q = listQuery(first ? FIRST_PAGE : PAGE_SIZE);
  if (!first) q.set('cursor', cursor);
  loading = true;
  $('more').disabled = true;
  schedule();
  try {
    const res = await api('v1/tasks?' + q);
    if (gen !== generation) return;
    cursor = res.next_cursor || '';
    listEnd = !cursor;
    merge(res.tasks, c0, gen, first);
  } catch (e) {
    if (first) listed = true;
    report(e, 'listing tasks');
  } finally {
    if (gen === generation) loading = false;
    schedule();
  }
}

// refreshNewest fetches the newest tasks: queued ones send no event.
async function refreshNewest() {
  const gen = generation, c0 = arrivals;
  try {
    merge((await api('v1/tasks?' + listQuery(50))).tasks, c0, gen);
  } catch (e) {
    report(e, 'listing tasks', true);
  }
}

let statsTimer = 0, statsAt = 0;

function statsSoon() {
  if (!statsTimer) statsTimer = setTimeout(refreshStats, Math.max(0, statsAt + STATS_EVERY - Date.now()));
}

async function refreshStats() {
  statsAt = Date.now();
  try {
    counts = (await api('v1/stats')).counts || {};
    renderCounts();
  } catch (e) {
    report(e, 'stats', true);
  } finally {
    statsTimer = 0;
  }
}

// Overview panels: refreshed on their own clocks, only while the list shows.
const overviewAt = { names: 0, chart: 0, servers: 0 };

function refreshOverview(force = true) {
  if (route.view !== 'list' || authFailed) return;
  const now = Date.now();
  const due = (k, every) => {
    if (!force && now - overviewAt[k] < every) return false;
    overviewAt[k] = now;
    return true;
  };
  if (due('names', NAMES_EVERY)) {
    api('v1/stats/names').then((r) => { nameCounts = r.names || {}; renderNames(); }, (e) => report(e, 'counts by name', true));
  }
  if (due('chart', CHART_EVERY)) {
    api('v1/throughput').then(renderChart, (e) => report(e, 'throughput', true));
  }
  if (due('servers', SERVERS_EVERY)) {
    api('v1/servers').then((r) => renderServers(r.servers || []), (e) => report(e, 'servers', true));
  }
}

async function loadDefinitions() {
  try {
    const list = (await api('v1/definitions')).definitions || [];
    list.sort((a, b) => a.name.localeCompare(b.name));
    const sel = $('f-name');
    for (const d of list) {
      defs.set(d.name, d);
      const o = el('option', d.name);
      o.value = d.name;
      sel.append(o);
    }
    showDescription();
    renderNames();
    for (const t of tasks.values()) dirty.add(t.id); // attempts and progress labels use the definitions
    if (detail.rec) detail.dirty = true;
    schedule();
  } catch (e) {
    report(e, 'loading task definitions');
  }
}

// Fetching single records: only for tasks on screen that events left
// incomplete, at most FETCHES at once.
const fetchQueue = [];
const fetching = new Set();

function want(t) {
  if (fetching.has(t.id) || t._queued || authFailed) return;
  const wait = (t._fetchedAt || 0) + REFETCH_AFTER - Date.now();
  if (wait > 0) {
    if (!t._timer) t._timer = setTimeout(() => { t._timer = 0; dirty.add(t.id); schedule(); }, wait);
    return;
  }
  t._queued = true;
  fetchQueue.push(t);
  pump();
}

function pump() {
  while (fetching.size < FETCHES && fetchQueue.length) {
    const t = fetchQueue.shift();
    t._queued = false;
    if (tasks.get(t.id) === t && rows.has(t.id)) fetchOne(t);
  }
}

async function fetchOne(t) {
  fetching.add(t.id);
  const gen = generation, c0 = arrivals;
  let wait = 0;
  try {
    merge([await api('v1/tasks/' + encodeURIComponent(t.id))], c0, gen);
  } catch (e) {
    if (e.status === 404) { queue.push({ gone: t.id }); schedule(); }
    else { wait = RETRY_FAILED; report(e, 'fetching a task', true); }
  } finally {
    t._fetchedAt = Date.now() + wait;
    fetching.delete(t.id);
    pump();
  }
}

// splitArgs splits on whitespace; "double" or 'single' quotes keep spaces.
function splitArgs(s) {
  return [...s.matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3]);
}

async function submit(e) {
  e.preventDefault();
  const body = { name: $('f-name').value, args: splitArgs($('f-args').value) };
  if ($('f-priority').value) body.priority = $('f-priority').value;
  if ($('f-key').value.trim()) body.idempotency_key = $('f-key').value.trim();
  const out = $('f-result'), button = $('f-submit');
  const gen = generation, c0 = arrivals;
  out.className = '';
  out.textContent = 'Submitting…';
  delete out.dataset.id;
  button.disabled = true;
  try {
    const rec = await api('v1/tasks', { method: 'POST', body });
    merge([rec], c0, gen);
    out.replaceChildren('Submitted ', taskLink(rec));
    out.dataset.id = rec.id;
    scroller.scrollTop = 0;
  } catch (err) {
    out.className = 'error';
    out.textContent = errorText(err);
  } finally {
    button.disabled = false;
  }
}

function taskLink(rec) {
  const a = el('a', `${rec.name} ${rec.id}`);
  a.href = '#/task/' + rec.id;
  return a;
}

function showDescription() {
  text($('f-desc'), defs.get($('f-name').value)?.description || '');
}

// ---- One task -----------------------------------------------------------------------

// detail is the task view's state: its record, its own event stream and
// log.
const detail = { id: '', rec: null, es: null, log: [], logAdded: 0, dirty: false, seq: 0, fetchedAt: 0, timer: 0, gen: 0, more: 0 };

function closeDetail() {
  if (detail.es) detail.es.close();
  clearTimeout(detail.timer);
  Object.assign(detail, { id: '', rec: null, es: null, log: [], logAdded: 0, dirty: false, seq: 0, timer: 0, more: 0 });
  detail.gen++;
}

function openDetail(id) {
  if (detail.id === id) return;
  closeDetail();
  detail.id = id;
  const gen = detail.gen;
  const known = tasks.get(id);
  if (known) detail.rec = { ...known, subtasks: known.subtasks.map((s) => ({ ...s })) };
  $('d-missing').hidden = true;
  $('d-log').replaceChildren();
  text($('d-log-note'), '');
  text($('d-title'), known ? `${known.name} ${id}` : id);
  document.title = `Task ${id} · bgtask`;
  detail.dirty = true;
  loadDetail(gen);
}

// loadDetail reads the task's history from the server's event log, then
// its record, then follows its own event stream from the end of that
// history: events the record already covers are only logged.
async function loadDetail(gen) {
  let hist = null;
  try {
    hist = await api(`v1/tasks/${encodeURIComponent(detail.id)}/log`);
  } catch (e) {
    if (e.status !== 404) report(e, 'reading the task\'s events');
  }
  if (gen !== detail.gen) return;
  await fetchDetail(gen);
  if (gen !== detail.gen || !detail.rec) return;
  if (hist) {
    detail.log.push(...hist.events);
    detail.logAdded += hist.events.length;
    if (!hist.complete) text($('d-log-note'), hist.events.length ? '(the latest the server still holds)' : '(the server no longer holds them)');
  }
  // A finished task whose history is in: nothing more will come.
  if (TERMINAL.has(detail.rec.state) && hist && hist.event_seq >= detail.seq) return;
  followDetail(hist ? hist.event_seq : detail.seq);
}

async function fetchDetail(gen) {
  detail.fetchedAt = Date.now();
  try {
    const rec = norm(await api('v1/tasks/' + encodeURIComponent(detail.id)));
    if (gen !== detail.gen) return;
    detail.rec = rec;
    detail.seq = Math.max(detail.seq, rec.event_seq || 0);
  } catch (e) {
    if (gen !== detail.gen) return;
    if (e.status === 404) {
      detail.rec = null;
      const m = $('d-missing');
      m.textContent = `No task with ID ${detail.id} (it never existed, or it finished long enough ago to be deleted).`;
      m.hidden = false;
    } else report(e, 'fetching the task');
  }
  detail.dirty = true;
  schedule();
}

// refetchDetail fetches the record again (subtasks, owner and heartbeat
// come in no event), at most every REFETCH_AFTER.
function refetchDetail() {
  if (detail.timer) return;
  const gen = detail.gen;
  detail.timer = setTimeout(() => { detail.timer = 0; if (gen === detail.gen) fetchDetail(gen); },
    Math.max(0, detail.fetchedAt + REFETCH_AFTER - Date.now()));
}

// followDetail opens the task's own stream, resumed after the log position
// `after` (0: from now).
function followDetail(after) {
  if (detail.es) detail.es.close();
  const gen = detail.gen;
  const q = new URLSearchParams();
  if (after) q.set('last_event_id', String(after));
  if (token) q.set('access_token', token);
  const es = new EventSource(`v1/tasks/${encodeURIComponent(detail.id)}/events?${q}`);
  detail.es = es;
  const onTaskEvent = (m) => {
    if (gen !== detail.gen) return;
    let ev;
    try { ev = JSON.parse(m.data); } catch { return; }
    detail.log.push(ev);
    detail.logAdded++;
    if (detail.log.length > 2 * MAX_TASK_LOG) { detail.more += detail.log.length - MAX_TASK_LOG; detail.log.splice(0, detail.log.length - MAX_TASK_LOG); }
    // Replayed events older than the record change nothing.
    if (detail.rec && ev.seq > detail.seq) {
      eventInto(detail.rec, ev);
      detail.seq = ev.seq;
      if (ev.kind !== 'updated' || detail.rec.subtasks.length) refetchDetail();
    }
    detail.dirty = true;
    schedule();
  };
  for (const k of KINDS) es.addEventListener(k, onTaskEvent);
  es.addEventListener('state', (m) => {
    if (gen !== detail.gen) return;
    try { detail.rec = norm(JSON.parse(m.data)); } catch { return; }
    detail.seq = Math.max(detail.seq, detail.rec.event_seq || 0);
    detail.dirty = true;
    schedule();
  });
  // The task ended: the server closes the stream; do not reopen it.
  es.addEventListener('server_close', () => es.close());
  es.onerror = () => {
    if (es.readyState === EventSource.CLOSED && gen === detail.gen && !authFailed) {
      setTimeout(() => { if (gen === detail.gen && detail.es === es) followDetail(detail.seq); }, RETRY_FAILED);
    }
  };
}

function dl(id, pairs) {
  $(id).replaceChildren(...pairs.filter(([, v]) => v !== '' && v != null).flatMap(([k, v]) => {
    const dd = el('dd');
    if (v instanceof Node) dd.append(v); else dd.textContent = v;
    return [el('dt', k), dd];
  }));
}

function timeEl(iso) {
  if (!iso) return '';
  const t = el('time', fmtFull(iso));
  t.dateTime = iso;
  t.title = new Date(iso).toISOString();
  return t;
}

function renderDetail() {
  if (!detail.dirty && !detail.logAdded) return;
  if (detail.logAdded) {
    const ol = $('d-log');
    const k = Math.min(detail.logAdded, detail.log.length);
    detail.logAdded = 0;
    for (let i = detail.log.length - k; i < detail.log.length; i++) {
      const ev = detail.log[i];
      const what = eventWhat(ev);
      const last = ol.lastElementChild;
      // Repeated identical updates (a parallel task's subtasks moving)
      // fold into one line with a count.
      if (ev.kind === 'updated' && last && last.dataset.kind === 'updated' && last.dataset.what === what) {
        const n = (parseInt(last.dataset.n, 10) || 1) + 1;
        last.dataset.n = String(n);
        const when = last.querySelector('time');
        when.textContent = fmtFull(ev.time);
        when.dateTime = ev.time;
        last.lastElementChild.textContent = `${what} (×${n})`;
        continue;
      }
      const li = logItem(ev, false);
      li.dataset.what = what;
      ol.append(li);
    }
    while (ol.childElementCount > MAX_TASK_LOG) ol.firstElementChild.remove();
    if (detail.more || ol.childElementCount >= MAX_TASK_LOG) text($('d-log-note'), `(the latest ${MAX_TASK_LOG})`);
  }
  if (!detail.dirty) return;
  detail.dirty = false;
  const t = detail.rec;
  for (const e of ['d-progress', 'd-cancel', 'd-retry', 'd-again']) $(e).hidden = !t;
  if (!t) { text($('d-badge'), ''); text($('d-status'), ''); return; }
  text($('d-title'), `${t.name} ${t.id}`);
  const st = status(t);
  const badge = $('d-badge');
  text(badge, st.badge);
  badge.className = 'badge ' + t.state;
  const p = t.progress;
  const ptext = progressLabel(p, unitOf(t));
  text($('d-status'), [st.text, t.error && t.state !== 'SUCCESS' ? t.error : ''].filter(Boolean).join(' · '));
  $('d-status').className = 'd-status' + (st.bad || t.state === 'FAILURE' ? ' st-FAILURE' : '');
  const frac = fraction(t);
  $('d-progress').className = 'pline ' + t.state;
  $('d-progress').querySelector('.fill').style.width = (100 * frac).toFixed(1) + '%';
  const bar = $('d-progress').querySelector('.bar');
  bar.setAttribute('aria-valuenow', String(Math.round(100 * frac)));
  bar.setAttribute('aria-valuemax', '100');
  bar.setAttribute('aria-valuetext', ptext || 'no progress');
  text($('d-plabel'), [ptext, p.message].filter(Boolean).join(' · ') || (TERMINAL.has(t.state) ? '' : 'no progress reported yet'));
  const max = t.max_attempts || defs.get(t.name)?.max_attempts || 0;
  dl('d-fields', [
    ['ID', t.id], ['Task', t.name], ['State', t.state + (t.cancel_requested ? ' (cancel requested)' : '')],
    ['Priority', t.priority || 'normal'],
    ['Attempt', t._partial ? '' : max ? `${t.attempt} of ${max}` : `${t.attempt} (no limit)`],
    ['Server', t.owner], ['Exit code', t.exit_code === null ? '' : String(t.exit_code)], ['Error', t.error],
    ['Idempotency key', t.idempotency_key], ['Tags', t.tags.join(', ')],
  ]);
  text($('d-zone'), `(${zoneText()})`);
  dl('d-times', [
    ['Created', timeEl(t.created_at)], ['Started', timeEl(t.started_at)], ['Finished', timeEl(t.finished_at)],
    ['Last heartbeat', TERMINAL.has(t.state) ? '' : timeEl(t.heartbeat_at)],
    ['Waited', t.started_at ? span(t.created_at, t.started_at, false) : span(t.created_at, null, true)],
    ['Ran', duration(t)], ['Timeout', t.timeout || ''],
  ]);
  const args = $('d-args');
  args.replaceChildren(...(t.args.length ? t.args.map((a) => { const li = el('li'); li.append(el('code', a)); return li; }) : [el('li', '(none)', 'muted')]));
  $('d-subtasks-card').hidden = !t.subtasks.length;
  $('d-subtasks').tBodies[0].replaceChildren(...t.subtasks.map((s) => {
    const tr = el('tr');
    tr.append(el('td', s.key), el('td', s.state, 'st-' + s.state),
      el('td', [progressLabel(s.progress, unitOf(t)), s.progress.message].filter(Boolean).join(' · ')), el('td', s.error || ''));
    return tr;
  }));
  $('d-cancel').hidden = !(t.state === 'ONGOING' && !t.cancel_requested);
  const retriable = TERMINAL.has(t.state) && t.subtasks.some((s) => s.state === 'FAILURE');
  $('d-retry').hidden = !retriable;
  $('d-again').hidden = !(TERMINAL.has(t.state) && !retriable && t.state !== 'SUCCESS');
}

async function cancelTask() {
  const t = detail.rec;
  if (!t) return;
  const dlg = $('confirm');
  text($('confirm-text'), `${t.name} ${t.id} will be stopped: its run's context is cancelled and it ends CANCELLED. This cannot be undone.`);
  dlg.returnValue = '';
  dlg.showModal();
  const answer = await new Promise((resolve) => dlg.addEventListener('close', () => resolve(dlg.returnValue), { once: true }));
  $('d-cancel').focus();
  if (answer !== 'yes') return;
  await control(t, 'cancel', 'Cancel requested');
}

async function control(t, op, done) {
  const gen = detail.gen;
  const button = $(op === 'cancel' ? 'd-cancel' : 'd-retry');
  button.disabled = true;
  try {
    const rec = norm(await api(`v1/tasks/${encodeURIComponent(t.id)}/${op}`, { method: 'POST' }));
    notice(`${done}: ${t.name} ${t.id}`);
    merge([{ ...rec }], arrivals, generation);
    if (gen === detail.gen) {
      detail.rec = rec;
      detail.dirty = true;
      if (op === 'retry') followDetail(detail.seq); // the stream ended with the task: follow the new run
      schedule();
    }
  } catch (e) {
    report(e, `${op} ${t.name} ${t.id}`);
  } finally {
    button.disabled = false;
  }
}

// submitAgain submits a new task with the same name, arguments and
// priority as the one shown, and shows it.
async function submitAgain() {
  const t = detail.rec;
  if (!t) return;
  try {
    const rec = await api('v1/tasks', { method: 'POST', body: { name: t.name, args: t.args, priority: t.priority || undefined } });
    merge([rec], arrivals, generation);
    notice(`Submitted again as ${rec.id}`);
    go('#/task/' + rec.id);
  } catch (e) {
    report(e, `submitting ${t.name} again`);
  }
}

// ---- Live events --------------------------------------------------------------------

let es = null;
let lastEventId = '';
let broken = false;

// connect opens the event stream. The browser resumes it by itself after
// a network error (sending Last-Event-ID); after an HTTP error it stops,
// and connect starts it again with ?last_event_id=.
function connect() {
  const q = new URLSearchParams();
  if (token) q.set('access_token', token);
  if (lastEventId) q.set('last_event_id', lastEventId);
  es = new EventSource('v1/events' + (q.size ? '?' + q : ''));
  es.onopen = () => {
    setConn('live', 'live');
    if (broken) { broken = false; refreshNewest(); statsSoon(); }
  };
  es.onerror = () => {
    broken = true;
    if (es.readyState !== EventSource.CLOSED) { setConn('down', 'reconnecting…'); return; }
    setConn('down', 'live updates stopped');
    api('v1/stats').then(() => setTimeout(connect, 1000), (e) => {
      if (e.status !== 401) setTimeout(connect, RETRY_FAILED);
    });
  };
  for (const k of KINDS) es.addEventListener(k, onEvent);
  // The server's log no longer reaches back to our position: reload.
  es.addEventListener('reset', () => { setFilter(filter); statsSoon(); });
}

function setConn(cls, what) {
  const c = $('conn');
  c.className = 'conn ' + cls;
  text(c, what);
}

// ---- Messages ------------------------------------------------------------------------

function errorText(e) {
  return e.status ? `${e.message} (${e.code}, HTTP ${e.status})` : e.message;
}

// report shows an error; background ones only when they are not the
// connection's (shown by its indicator) or a 401 (shown by the login).
function report(e, what, background = false) {
  if (e.status === 401) return;
  if (background && e.status === 0) { setConn('down', 'server unreachable'); return; }
  notice(`${what}: ${errorText(e)}`, true);
}

function notice(msg, isError = false) {
  const n = $('notice');
  $('notice-text').textContent = msg;
  n.classList.toggle('error', isError);
  n.hidden = false;
}

// unauthorized stops everything and asks for the token again.
function unauthorized(e) {
  if (authFailed) return;
  authFailed = true;
  if (es) es.close();
  closeDetail();
  setConn('down', 'unauthorized');
  const a = $('auth');
  a.textContent = `Unauthorized (401): the server refused the token (${e.message}). Sign in with its current token.`;
  a.hidden = false;
  showLogin('');
}

// ---- Sign-in and start -----------------------------------------------------------------

function showLogin(msg) {
  show('login');
  text($('login-error'), msg);
  setConn('down', 'signed out');
  $('login-token').focus();
}

async function login(e) {
  e.preventDefault();
  const tok = $('login-token').value.trim();
  const button = $('login-submit');
  button.disabled = true;
  text($('login-error'), '');
  try {
    const res = await fetch('v1/stats', { headers: { Accept: 'application/json', Authorization: 'Bearer ' + tok } });
    if (res.status === 401) { text($('login-error'), 'Wrong token: the server refused it (HTTP 401).'); return; }
    if (!res.ok) { text($('login-error'), `The server answered HTTP ${res.status}.`); return; }
    sessionStorage.setItem(TOKEN_KEY, tok);
    token = tok;
    $('login-token').value = '';
    if (!started) { run(); return; }
    // Signed in again after a 401: resume where the page was.
    authFailed = false;
    $('auth').hidden = true;
    connect();
    refreshStats();
    route = { view: '' };
    setFilter(filter);
    onRoute();
  } catch {
    text($('login-error'), 'Cannot reach the server.');
  } finally {
    button.disabled = false;
  }
}

// boot checks the token (none, or the session's) before anything else: a
// server that wants one gets a sign-in form, not raw 401s.
async function boot() {
  buildCounts();
  wire();
  try {
    const res = await fetch('v1/stats', { headers: token ? { Accept: 'application/json', Authorization: 'Bearer ' + token } : { Accept: 'application/json' } });
    if (res.status === 401) {
      if (token) sessionStorage.removeItem(TOKEN_KEY);
      showLogin(token ? 'The server refused the saved token (HTTP 401): sign in again.' : '');
      return;
    }
  } catch { /* unreachable: run shows it */ }
  run();
}

function run() {
  started = true;
  connect(); // before the first page, so that no event is missed
  loadDefinitions();
  const r = parseHash();
  if (r.view === 'list') filter = { state: r.state, name: r.name, id: r.id };
  loadPage(true);
  refreshStats();
  onRoute();
  setInterval(() => {
    if (authFailed) return;
    if (route.view === 'list') refreshNewest();
    statsSoon();
    refreshOverview(false);
  }, NEWEST_EVERY);
  setInterval(() => { // running durations
    if (route.view === 'list') for (const id of rows.keys()) if (tasks.get(id)?.state === 'ONGOING') dirty.add(id);
    if (route.view === 'task' && detail.rec?.state === 'ONGOING') {
      detail.dirty = true;
      // A queued task sends no event until it starts: read it now and then.
      if (Date.now() - detail.fetchedAt > NEWEST_EVERY) refetchDetail();
    }
    if (dirty.size || detail.dirty) schedule();
  }, 1000);
}

let typing = 0;

function wire() {
  scroller.addEventListener('scroll', schedule, { passive: true });
  window.addEventListener('resize', () => { measure = true; schedule(); });
  window.addEventListener('hashchange', onRoute);
  $('notice-close').addEventListener('click', () => { $('notice').hidden = true; });
  $('more').addEventListener('click', () => loadPage(false));
  $('submit-form').addEventListener('submit', submit);
  $('f-name').addEventListener('change', showDescription);
  $('login-form').addEventListener('submit', login);
  $('filters').addEventListener('submit', (e) => e.preventDefault());
  // Typing in the ID search replaces the history entry; the other filters add one.
  $('q-id').addEventListener('input', () => {
    clearTimeout(typing);
    typing = setTimeout(() => {
      const id = $('q-id').value.trim().toLowerCase();
      history.replaceState(null, '', listHash({ ...filter, id }));
      onRoute();
    }, 200);
  });
  $('q-name').addEventListener('change', () => go(listHash({ ...filter, name: $('q-name').value })));
  $('q-state').addEventListener('change', () => go(listHash({ ...filter, state: $('q-state').value })));
  $('q-clear').addEventListener('click', () => go('#/'));
  $('d-cancel').addEventListener('click', cancelTask);
  $('d-retry').addEventListener('click', () => detail.rec && control(detail.rec, 'retry', 'Retrying the failed subtasks'));
  $('d-again').addEventListener('click', submitAgain);
  // Up and down arrows move between the rows' links, drawing rows as needed.
  rowsEl.addEventListener('keydown', (e) => {
    if ((e.key !== 'ArrowDown' && e.key !== 'ArrowUp') || !e.target.closest('a.id')) return;
    const j = view.indexOf(e.target.closest('.row').dataset.id) + (e.key === 'ArrowDown' ? 1 : -1);
    if (j < 0 || j >= view.length) return;
    e.preventDefault();
    const top = j * rowHeight, room = scroller.clientHeight - HEAD_HEIGHT;
    if (top < scroller.scrollTop) scroller.scrollTop = top;
    else if (top + rowHeight > scroller.scrollTop + room) scroller.scrollTop = top + rowHeight - room;
    renderList(Math.max(0, scroller.scrollTop - HEAD_HEIGHT), scroller.clientHeight);
    rows.get(view[j])?.id.focus();
  });
  document.addEventListener('keydown', (e) => {
    // "/" focuses the ID search, as in many list views.
    if (e.key === '/' && route.view === 'list' && !/^(INPUT|SELECT|TEXTAREA)$/.test(document.activeElement?.tagName || '')) {
      e.preventDefault();
      $('q-id').focus();
    }
  });
}

// For tests and the curious: sizes of the model and of the DOM, and the
// label functions.
window.bgtaskDashboard = Object.freeze({
  MAX_TASKS,
  rowHeight: () => rowHeight,
  progressLabel,
  status: (t) => status(norm({ ...t })),
  stats: () => ({ tasks: tasks.size, loaded: view.length, rows: rows.size, log: $('log').childElementCount,
    queued: queue.length, events: arrivals, slowestFrame, biggestBatch }),
});

boot();
