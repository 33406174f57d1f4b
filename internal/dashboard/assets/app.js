// bgtask dashboard: a live view of one `bgtask serve`, built on its /v1 API
// alone. How it stays fast with 10,000 tasks: docs/dashboard.md.
//
// Every change (an event from the stream, a record from the API) is queued
// and applied once per animation frame, in arrival order; the frame then
// redraws only the rows on screen whose task changed. The task list is
// virtual: fixed-height rows, only the visible window in the DOM.
'use strict';

const ROW_HEIGHT = 48;       // px, fixed (--row in app.css): the list is virtual
const HEAD_HEIGHT = 28;      // px, the sticky column headers above the rows
const OVERSCAN = 6;          // rows drawn beyond each edge of the viewport
const FIRST_PAGE = 200;      // tasks in the first GET /v1/tasks page
const PAGE_SIZE = 1000;      // tasks per "Load more" (the API's maximum)
const MAX_TASKS = 5000;      // tasks kept in memory; beyond, the oldest finished ones are dropped
const MAX_LOG = 200;         // entries in the event log
const NEWEST_EVERY = 5000;   // ms between refreshes of the newest tasks (a queued task sends no event)
const STATS_EVERY = 1000;    // ms, at least, between two GET /v1/stats
const REFETCH_AFTER = 500;   // ms, at least, between two GET /v1/tasks/{id} of one task
const RETRY_FAILED = 5000;   // ms before fetching again a task whose fetch failed
const FETCHES = 4;           // GET /v1/tasks/{id} in flight at most
const KINDS = ['started', 'updated', 'done', 'failed', 'cancelled', 'partial_success'];
const STATES = ['ONGOING', 'SUCCESS', 'FAILURE', 'CANCELLED'];
const TERMINAL = new Set(STATES.slice(1));
// Record fields that events do not carry.
const STATIC = ['name', 'args', 'priority', 'created_at', 'idempotency_key', 'timeout', 'tags'];

const $ = (id) => document.getElementById(id);
const token = new URLSearchParams(location.search).get('access_token') || '';

// ---- Model ----------------------------------------------------------------

const tasks = new Map();  // id → record as the API returns it, plus _evAt, _stale, _partial, _fetchedAt
let order = [];           // ids, newest first (task IDs are UUIDv7: they sort by creation time)
let view = order;         // order less the tasks the state filter hides
let viewChanged = true;
const dirty = new Set();  // ids whose row (or detail panel) must be redrawn
const log = [];           // events, oldest first, trimmed to MAX_LOG
let logAdded = 0;         // events logged since the last frame
const defs = new Map();   // definition name → definition
let counts = {};          // GET /v1/stats
let filter = '';          // state shown; '' for all
let selected = '';        // task in the detail panel
let detailChanged = false;
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
    if (res.status === 401) unauthorized(e);
    throw e;
  }
  return data;
}

function norm(r) {
  r.args ??= []; r.subtasks ??= []; r.error ??= ''; r.owner ??= ''; r.tags ??= [];
  r.idempotency_key ??= ''; r.timeout ??= 0; r.exit_code ??= null;
  r.progress ??= { current: 0, total: 0, message: '' };
  r.cancel_requested = !!r.cancel_requested;
  return r;
}

// blank is a task known only from an event, until its record is fetched.
function blank(id, name) {
  const ms = parseInt(id.replace(/-/g, '').slice(0, 12), 16); // UUIDv7: Unix ms first
  return norm({ id, name, state: 'ONGOING', priority: '', attempt: 0, created_at: isNaN(ms) ? null : new Date(ms).toISOString(),
    started_at: null, finished_at: null, heartbeat_at: null, _partial: true, _stale: true });
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
  if (id === selected) select('');
}

function touched(t, prevState) {
  dirty.add(t.id);
  if (filter && t.state !== prevState) viewChanged = true;
}

function applyEvent(ev, n) {
  addLog(ev);
  let t = tasks.get(ev.task_id);
  if (!t) {
    if (filter && ev.state !== filter) return;
    // Before the first page, or older than every loaded task: a page
    // will bring it.
    if (!listed) { missed = true; return; }
    if (!listEnd && order.length && ev.task_id < order[order.length - 1]) return;
    t = blank(ev.task_id, ev.name);
    insert(t);
  }
  const prev = t.state;
  Object.assign(t, { _evAt: n, state: ev.state, progress: ev.progress, attempt: ev.attempt });
  if (ev.kind === 'started') {
    Object.assign(t, { started_at: ev.time, finished_at: null, error: '', exit_code: null });
  } else if (ev.kind !== 'updated') {
    Object.assign(t, { finished_at: ev.time, error: ev.error || '', exit_code: ev.exit_code ?? null, cancel_requested: false });
    for (const s of t.subtasks) {
      if (ev.subtask_errors && s.key in ev.subtask_errors) Object.assign(s, { state: 'FAILURE', error: ev.subtask_errors[s.key] });
    }
  }
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
      if (filter && r.state !== filter) continue;
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
    if (TERMINAL.has(t.state) && t.id !== selected) {
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

// ---- Rendering ----------------------------------------------------------------

const scroller = $('scroller');
const rowsEl = $('rows');
const rowTemplate = $('row-template').content.firstElementChild;
const rows = new Map();  // id → drawn row
const pool = [];         // rows scrolled out, for reuse

function render() {
  const top = Math.max(0, scroller.scrollTop - HEAD_HEIGHT);
  const height = scroller.clientHeight;
  renderDetail();
  renderList(top, height);
  renderLog();
  renderMore();
}

function renderList(top, height) {
  if (viewChanged) {
    view = filter ? order.filter((id) => tasks.get(id).state === filter) : order;
    rowsEl.style.height = view.length * ROW_HEIGHT + 'px';
    $('table').setAttribute('aria-rowcount', String(view.length + 1));
    viewChanged = false;
  }
  const first = Math.max(0, Math.floor(top / ROW_HEIGHT) - OVERSCAN);
  const last = Math.min(view.length, Math.ceil((top + height) / ROW_HEIGHT) + OVERSCAN);
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
      row.el.style.transform = `translateY(${i * ROW_HEIGHT}px)`;
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
  const el = rowTemplate.cloneNode(true);
  const q = (s) => el.querySelector(s);
  return {
    el, name: q('.name'), args: q('.args'), badge: q('.badge'), subs: q('.subs'),
    bar: q('.bar'), fill: q('.fill'), pcount: q('.pcount'), pmsg: q('.pmsg'), attempt: q('.c-attempt'),
    created: q('.c-created time'), started: q('.c-started time'), finished: q('.c-finished time'),
    duration: q('.c-duration'), error: q('.c-error'),
    cancel: q('[data-action=cancel]'), retry: q('[data-action=retry]'), details: q('[data-action=details]'),
  };
}

function text(el, s) { if (el.textContent !== s) el.textContent = s; }

function fillRow(r, t) {
  const label = `${t.name} ${shortID(t.id)}`;
  r.el.className = `row task ${t.state}${t.id === selected ? ' selected' : ''}`;
  text(r.name, t.name);
  r.name.title = t.id;
  const args = t._partial ? '…' : t.args.join(' ');
  text(r.args, args);
  r.args.title = args;
  text(r.badge, t.state);
  r.badge.className = 'badge ' + t.state;
  const sub = subline(t);
  text(r.subs, sub.text);
  r.subs.title = sub.text;
  r.subs.className = 'subs' + (sub.bad ? ' st-FAILURE' : '');
  const p = t.progress;
  const frac = p.total > 0 ? Math.min(1, Math.max(0, p.current / p.total)) : (t.state === 'SUCCESS' ? 1 : 0);
  r.fill.style.width = (100 * frac).toFixed(1) + '%';
  const ptext = progressText(p);
  text(r.pcount, ptext);
  r.bar.setAttribute('aria-valuenow', String(p.current));
  r.bar.setAttribute('aria-valuemax', String(p.total || 0));
  r.bar.setAttribute('aria-label', `Progress of ${label}: ${ptext || 'none'}`);
  text(r.pmsg, p.message || '');
  r.pmsg.title = p.message || '';
  text(r.attempt, attemptText(t));
  setTime(r.created, t.created_at);
  setTime(r.started, t.started_at);
  setTime(r.finished, t.finished_at);
  text(r.duration, duration(t));
  text(r.error, t.error);
  r.error.title = t.error;
  r.cancel.hidden = !(t.state === 'ONGOING' && !t.cancel_requested);
  r.retry.hidden = !(TERMINAL.has(t.state) && t.subtasks.some((s) => s.state === 'FAILURE'));
  r.cancel.setAttribute('aria-label', 'Cancel ' + label);
  r.retry.setAttribute('aria-label', 'Retry the failed subtasks of ' + label);
  text(r.details, t.subtasks.length ? `Subtasks (${t.subtasks.length})` : 'Details');
  r.details.setAttribute('aria-label', 'Details of ' + label);
  r.details.setAttribute('aria-expanded', String(t.id === selected));
}

// subline is the line under the state: subtask counts, or why it waits.
function subline(t) {
  if (t.subtasks.length) {
    const n = {};
    for (const s of t.subtasks) n[s.state] = (n[s.state] || 0) + 1;
    const parts = [['SUCCESS', 'ok'], ['FAILURE', 'failed'], ['ONGOING', 'running'], ['CANCELLED', 'cancelled'], ['PENDING', 'pending']]
      .filter(([s]) => n[s]).map(([s, w]) => `${n[s]} ${w}`);
    return { text: parts.join(', '), bad: !!n.FAILURE };
  }
  if (t.state === 'ONGOING' && t.cancel_requested) return { text: 'cancelling…' };
  if (t.state === 'ONGOING' && t.attempt === 0) return { text: 'waiting for a worker' };
  if (TERMINAL.has(t.state) && t.exit_code !== null && t.exit_code !== 0) return { text: `exit ${t.exit_code}`, bad: true };
  return { text: '' };
}

function num(x) { return Number.isInteger(x) ? String(x) : x.toFixed(1); }

function progressText(p) {
  if (p.total > 0) return `Task ${num(p.current)} of ${num(p.total)}`;
  return p.current ? num(p.current) : '';
}

function attemptText(t) {
  const max = defs.get(t.name)?.max_attempts || 0;
  return max > 1 ? `${t.attempt}/${max}` : String(t.attempt);
}

function shortID(id) { return id.slice(-8); }

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

// fmtFull is the local date and time to the millisecond.
function fmtFull(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

function setTime(el, iso) {
  text(el, fmtTime(iso));
  el.dateTime = iso || '';
  el.title = fmtFull(iso);
}

function fmtDuration(ms) {
  const s = ms / 1000;
  if (s < 10) return s.toFixed(2) + ' s';
  if (s < 60) return s.toFixed(1) + ' s';
  if (s < 3600) return `${Math.floor(s / 60)}m ${pad(Math.floor(s % 60))}s`;
  return `${Math.floor(s / 3600)}h ${pad(Math.floor((s % 3600) / 60))}m`;
}

function duration(t) {
  if (!t.started_at) return '';
  const end = t.finished_at ? Date.parse(t.finished_at) : (t.state === 'ONGOING' ? Date.now() : NaN);
  return isNaN(end) ? '' : fmtDuration(Math.max(0, end - Date.parse(t.started_at)));
}

function renderDetail() {
  if (!detailChanged && !dirty.has(selected)) return;
  detailChanged = false;
  const sec = $('detail');
  const t = selected && tasks.get(selected);
  if (!t) { sec.hidden = true; return; }
  sec.hidden = false;
  if (t._stale) want(t);
  $('detail-title').textContent = `${t.name} ${shortID(t.id)}`;
  const p = t.progress;
  const fields = [
    ['ID', t.id], ['Arguments', t._partial ? '…' : t.args.length ? JSON.stringify(t.args) : '(none)'],
    ['State', t.state + (t.cancel_requested ? ' (cancel requested)' : '')], ['Priority', t.priority],
    ['Attempt', attemptText(t)], ['Owner', t.owner],
    ['Progress', [progressText(p), p.message].filter(Boolean).join(' · ')],
    ['Created', fmtFull(t.created_at)], ['Started', fmtFull(t.started_at)], ['Finished', fmtFull(t.finished_at)],
    ['Duration', duration(t)], ['Heartbeat', fmtFull(t.heartbeat_at)],
    ['Exit code', t.exit_code === null ? '' : String(t.exit_code)], ['Error', t.error],
    ['Idempotency key', t.idempotency_key], ['Timeout', t.timeout || ''],
    ['Tags', t.tags.join(', ')],
  ];
  const dl = $('detail-fields');
  dl.replaceChildren(...fields.filter(([, v]) => v).flatMap(([k, v]) => [el('dt', k), el('dd', v)]));
  const table = $('detail-subtasks');
  table.hidden = !t.subtasks.length;
  table.tBodies[0].replaceChildren(...t.subtasks.map((s) => {
    const tr = el('tr');
    tr.append(el('td', s.key), el('td', s.state, 'st-' + s.state),
      el('td', [progressText(s.progress), s.progress.message].filter(Boolean).join(' · ')), el('td', s.error || ''));
    return tr;
  }));
}

function el(tag, content = '', cls = '') {
  const e = document.createElement(tag);
  e.textContent = content;
  if (cls) e.className = cls;
  return e;
}

function renderLog() {
  if (!logAdded) return;
  const k = Math.min(logAdded, MAX_LOG, log.length);
  logAdded = 0;
  const frag = document.createDocumentFragment();
  for (let i = log.length - 1; i >= log.length - k; i--) frag.append(logItem(log[i]));
  const ol = $('log');
  if (k === MAX_LOG) { ol.replaceChildren(frag); return; }
  ol.prepend(frag);
  while (ol.childElementCount > MAX_LOG) ol.lastElementChild.remove();
}

function logItem(ev) {
  const li = el('li');
  li.dataset.kind = ev.kind;
  li.dataset.id = ev.task_id;
  const when = el('time', fmtTime(ev.time));
  when.dateTime = ev.time;
  let what = '';
  switch (ev.kind) {
    case 'started': what = `attempt ${ev.attempt}`; break;
    case 'updated': what = [progressText(ev.progress), ev.progress.message].filter(Boolean).join(' · '); break;
    case 'partial_success': what = 'failed subtasks: ' + Object.keys(ev.subtask_errors || {}).join(', '); break;
    default: what = ev.error || ev.message || ev.state;
  }
  li.append(when, el('span', ev.kind, 'k-' + ev.kind), el('span', `${ev.name} ${shortID(ev.task_id)}${what ? ': ' + what : ''}`));
  return li;
}

function renderMore() {
  const more = $('more');
  const full = truncated || tasks.size >= MAX_TASKS;
  more.disabled = loading || listEnd || full;
  more.textContent = listEnd ? 'All loaded' : full ? `Memory limit: newest ${MAX_TASKS} tasks kept` : `Load ${PAGE_SIZE} more`;
  text($('loaded'), `${view.length} task${view.length === 1 ? '' : 's'} loaded${filter ? ' (' + filter + ')' : ''}`);
}

// ---- Counts and filter ------------------------------------------------------------

function buildCounts() {
  const nav = $('counts');
  for (const st of ['', ...STATES]) {
    const b = el('button', st || 'All', st ? 'st-' + st : '');
    b.type = 'button';
    b.dataset.state = st;
    b.append(el('span', '', 'n'));
    b.addEventListener('click', () => setFilter(st));
    nav.append(b);
  }
  renderCounts();
}

function renderCounts() {
  let total = 0;
  for (const st of STATES) total += counts[st] || 0;
  for (const b of $('counts').children) {
    const st = b.dataset.state;
    b.querySelector('.n').textContent = String(st ? counts[st] || 0 : total);
    b.setAttribute('aria-pressed', String(st === filter));
  }
}

function setFilter(st) {
  if (st === filter) return;
  filter = st;
  generation++;
  tasks.clear();
  order = [];
  viewChanged = true;
  cursor = '';
  listEnd = false;
  listed = false;
  truncated = false;
  select('');
  scroller.scrollTop = 0;
  renderCounts();
  loadPage(true);
}

// ---- Server calls ---------------------------------------------------------------

async function loadPage(first) {
  if (loading && !first) return;
  const gen = generation, c0 = arrivals;
  const q = new URLSearchParams({ limit: String(first ? FIRST_PAGE : PAGE_SIZE) });
  if (filter) q.set('state', filter);
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
  const q = new URLSearchParams({ limit: '50' });
  if (filter) q.set('state', filter);
  try {
    merge((await api('v1/tasks?' + q)).tasks, c0, gen);
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
    for (const t of tasks.values()) dirty.add(t.id); // attempts show max_attempts
    schedule();
  } catch (e) {
    report(e, 'loading task definitions');
  }
}

// Fetching single records: only for tasks on screen (or in the detail
// panel) that events left incomplete, at most FETCHES at once.
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
    if (tasks.get(t.id) === t && (rows.has(t.id) || t.id === selected)) fetchOne(t);
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

async function control(id, op, button) {
  const t = tasks.get(id);
  const label = t ? `${t.name} ${shortID(id)}` : shortID(id);
  const gen = generation, c0 = arrivals;
  button.disabled = true;
  try {
    merge([await api(`v1/tasks/${encodeURIComponent(id)}/${op}`, { method: 'POST' })], c0, gen);
    notice(op === 'cancel' ? `Cancel requested: ${label}` : `Retrying the failed subtasks of ${label}`);
  } catch (e) {
    report(e, `${op} ${label}`);
  } finally {
    button.disabled = false;
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
    out.textContent = `Submitted ${rec.name} ${rec.id}`;
    out.dataset.id = rec.id;
    scroller.scrollTop = 0;
  } catch (err) {
    out.className = 'error';
    out.textContent = errorText(err);
  } finally {
    button.disabled = false;
  }
}

function showDescription() {
  text($('f-desc'), defs.get($('f-name').value)?.description || '');
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
// connection's (shown by its indicator) or a 401 (shown by its banner).
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

function unauthorized(e) {
  if (authFailed) return;
  authFailed = true;
  if (es) es.close();
  setConn('down', 'unauthorized');
  const a = $('auth');
  a.textContent = token
    ? `Unauthorized (401): the server refused the token in this page's address (${e.message}). Open the dashboard as /?access_token=<token> with the server's current token.`
    : `Unauthorized (401): this server needs a token (${e.message}). Open the dashboard as /?access_token=<token>.`;
  a.hidden = false;
}

// ---- Wiring -------------------------------------------------------------------------

function select(id) {
  if (selected) dirty.add(selected);
  selected = id;
  if (id) {
    dirty.add(id);
    const t = tasks.get(id);
    if (t) t._stale = true;
  }
  detailChanged = true;
  schedule();
}

function start() {
  buildCounts();
  scroller.addEventListener('scroll', schedule, { passive: true });
  window.addEventListener('resize', schedule);
  rowsEl.addEventListener('click', (e) => {
    const b = e.target.closest('button[data-action]');
    if (!b) return;
    const id = b.closest('.row').dataset.id;
    if (b.dataset.action === 'details') select(selected === id ? '' : id);
    else control(id, b.dataset.action, b);
  });
  $('detail-close').addEventListener('click', () => select(''));
  $('notice-close').addEventListener('click', () => { $('notice').hidden = true; });
  $('more').addEventListener('click', () => loadPage(false));
  $('submit-form').addEventListener('submit', submit);
  $('f-name').addEventListener('change', showDescription);
  connect(); // before the first page, so that no event is missed
  loadDefinitions();
  loadPage(true);
  refreshStats();
  setInterval(() => {
    if (authFailed) return;
    refreshNewest();
    statsSoon();
  }, NEWEST_EVERY);
  setInterval(() => { // running durations
    for (const id of rows.keys()) if (tasks.get(id)?.state === 'ONGOING') dirty.add(id);
    if (dirty.size) schedule();
  }, 1000);
}

// For tests and the curious: sizes of the model and of the DOM.
window.bgtaskDashboard = Object.freeze({
  MAX_TASKS,
  ROW_HEIGHT,
  stats: () => ({ tasks: tasks.size, loaded: view.length, rows: rows.size, log: $('log').childElementCount,
    queued: queue.length, slowestFrame, biggestBatch }),
});

start();
