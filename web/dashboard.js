// The events dashboard: plain JavaScript over the daemon's own API, signed
// in with a session cookie; state changes send the session's CSRF token.
'use strict';

const state = { csrf: '', admin: false, company: '', lastSeq: 0, events: [], seen: new Set(), stream: null };

function $(id) { return document.getElementById(id); }

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function row(cells) {
  const tr = document.createElement('tr');
  for (const c of cells) {
    if (c instanceof Node) { const td = el('td'); td.appendChild(c); tr.appendChild(td); }
    else if (typeof c === 'number') tr.appendChild(el('td', c, 'n'));
    else tr.appendChild(el('td', c));
  }
  return tr;
}

async function api(method, path, body) {
  const opts = { method, credentials: 'same-origin', headers: {} };
  if (method !== 'GET') opts.headers['X-CSRF-Token'] = state.csrf;
  if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  const r = await fetch(path, opts);
  if (r.status === 401 && path !== '/admin/events/session') showSignIn('');
  let data = null;
  try { data = await r.json(); } catch (e) { data = null; }
  return { status: r.status, data, headers: r.headers };
}

function showSignIn(message) {
  stopEvents();
  $('app').hidden = true;
  $('signin').hidden = false;
  $('signin-error').textContent = message || '';
}

function showApp(who) {
  state.csrf = who.csrf_token;
  state.admin = who.admin;
  state.company = who.company_id;
  $('who').textContent = who.admin ? 'admin' : 'company ' + who.company_id;
  $('signin').hidden = true;
  $('app').hidden = false;
  state.lastSeq = 0;
  state.events = [];
  state.seen = new Set();
  startEvents();
  refreshAll();
}

function stopEvents() {
  if (state.stream) state.stream.close();
  state.stream = null;
  window.sbStream = null;
}

// -- tiles and charts --------------------------------------------------------

function tile(label, value) {
  const t = el('div', null, 'tile');
  t.appendChild(el('div', value, 'v'));
  t.appendChild(el('div', label, 'k'));
  return t;
}

function sumPoints(series, kind) {
  let out = null;
  for (const s of series) {
    if (s.kind !== kind) continue;
    if (!out) out = s.points.map(() => 0);
    s.points.forEach((p, i) => { out[i] += p.count; });
  }
  return out || [];
}

function chart(svg, values, color) {
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  const w = 600, h = 120, pad = 4;
  svg.setAttribute('viewBox', `0 0 ${w} ${h}`);
  svg.setAttribute('preserveAspectRatio', 'none');
  const max = Math.max(1, ...values);
  const n = Math.max(1, values.length - 1);
  const pts = values.map((v, i) =>
    `${(pad + i * (w - 2 * pad) / n).toFixed(1)},${(h - pad - v * (h - 2 * pad) / max).toFixed(1)}`);
  const line = document.createElementNS('http://www.w3.org/2000/svg', 'polyline');
  line.setAttribute('points', pts.join(' '));
  line.setAttribute('stroke', color);
  svg.appendChild(line);
  const label = document.createElementNS('http://www.w3.org/2000/svg', 'text');
  label.setAttribute('x', 8); label.setAttribute('y', 16);
  label.setAttribute('font-size', 12);
  label.textContent = 'max ' + max;
  svg.appendChild(label);
}

// The stats of the session's company (an admin's: the whole node's).
async function refreshStats(queueTimes) {
  $('charts-note').textContent = state.admin ? 'All companies.' : 'Company ' + state.company + ' only.';
  const now = Date.now();
  const hour = await api('GET', `/api/admin/stats?from=${now - 3600e3}&to=${now}&step=60`);
  const day = await api('GET', `/api/admin/stats?from=${now - 86400e3}&to=${now}&step=900`);
  if (hour.status !== 200 || day.status !== 200) return null;
  const hs = hour.data.series, ds = day.data.series;
  const evHour = sumPoints(hs, 'event'), jobsHour = sumPoints(hs, 'queue_runtime');
  chart($('chart-events-hour'), evHour, '#3867d6');
  chart($('chart-jobs-hour'), jobsHour, '#20bf6b');
  chart($('chart-events-day'), sumPoints(ds, 'event'), '#3867d6');
  chart($('chart-jobs-day'), sumPoints(ds, 'queue_runtime'), '#20bf6b');
  // Type mix.
  const types = hs.filter(s => s.kind === 'event').sort((a, b) => b.total.count - a.total.count);
  const all = types.reduce((n, s) => n + s.total.count, 0) || 1;
  const mix = $('type-mix');
  mix.replaceChildren(...types.map(s => row([s.name, s.total.count, (100 * s.total.count / all).toFixed(1) + ' %'])));
  const ls = hs.filter(s => s.kind === 'listener').sort((a, b) => a.name.localeCompare(b.name));
  $('listeners').replaceChildren(...ls.map(s => row([s.name, s.total.count, s.total.failures,
    Math.round(s.total.p50_ms), Math.round(s.total.p95_ms), Math.round(s.total.p99_ms)])));
  for (const s of hs) {
    if (s.kind !== 'queue_wait' && s.kind !== 'queue_runtime') continue;
    const q = queueTimes[s.name] || (queueTimes[s.name] = { wait: 0, run: 0 });
    if (s.kind === 'queue_wait') q.wait = Math.max(q.wait, s.total.p99_ms || 0);
    else q.run = Math.max(q.run, s.total.p99_ms || 0);
  }
  const last = a => a.length ? a[a.length - 1] : 0;
  return {
    eventsPerMin: last(evHour), jobsPerMin: last(jobsHour),
    jobsHour: jobsHour.reduce((n, v) => n + v, 0),
  };
}

async function refreshFailed() {
  const r = await api('GET', '/api/jobs/failed?limit=1000');
  if (r.status !== 200) return [];
  const jobs = r.data.jobs.slice().sort((a, b) => b.id - a.id).slice(0, 50);
  const body = $('failed');
  body.replaceChildren(...jobs.map(j => {
    const retry = el('button', 'Retry');
    retry.className = 'retry';
    retry.dataset.jobId = j.id;
    retry.addEventListener('click', () => jobAction('POST', `/api/jobs/failed/${j.id}/retry`));
    const forget = el('button', 'Forget');
    forget.className = 'forget';
    forget.addEventListener('click', () => jobAction('DELETE', `/api/jobs/failed/${j.id}`));
    const buttons = el('span');
    buttons.append(retry, ' ', forget);
    const tr = row([j.id, j.listener, j.company_id, j.failed_at || '', (j.last_error || '').slice(0, 120), buttons]);
    tr.dataset.jobId = j.id;
    return tr;
  }));
  return r.data.jobs;
}

async function jobAction(method, path) {
  const r = await api(method, path);
  $('failed-note').textContent = r.status < 300 ? '' :
    (r.data && r.data.error ? r.data.error.message : 'failed: ' + r.status);
  refreshAll();
}

async function refreshAll() {
  const queueTimes = {};
  const stats = await refreshStats(queueTimes);
  const failed = await refreshFailed();
  const q = await api('GET', '/api/queues');
  const queues = q.status === 200 ? q.data.queues : [];
  $('queues').replaceChildren(...queues.map(x => {
    const t = queueTimes[x.name] || { wait: 0, run: 0 };
    return row([x.name, x.ready, x.delayed, x.leased, x.failed, x.processed, x.retried,
      Math.round(t.wait), Math.round(t.run)]);
  }));
  const week = Date.now() - 7 * 86400e3;
  const failedWeek = failed.filter(j => j.failed_at && Date.parse(j.failed_at) >= week).length;
  const tiles = [];
  if (stats) {
    tiles.push(tile('events per minute', stats.eventsPerMin));
    tiles.push(tile('jobs per minute', stats.jobsPerMin));
    tiles.push(tile('jobs past hour', stats.jobsHour));
  }
  tiles.push(tile('failed jobs, past 7 days', failedWeek));
  tiles.push(tile('jobs waiting', queues.reduce((n, x) => n + x.ready + x.delayed, 0)));
  // Catch-up listeners read the log: their lag is in events, beside those
  // held for the listener's delay (the notification's 5 s).
  for (const c of (q.status === 200 && q.data.catch_up) || [])
    tiles.push(tile(`events behind, ${c.listener}`,
                    c.events_delayed ? `${c.events_behind} (${c.events_delayed} held)` : c.events_behind));
  for (const [name, t] of Object.entries(queueTimes))
    tiles.push(tile(`max wait / runtime, ${name} (p99 ms)`, `${Math.round(t.wait)} / ${Math.round(t.run)}`));
  $('tiles').replaceChildren(...tiles);
}

// -- live events -------------------------------------------------------------

function renderEvents() {
  $('events').replaceChildren(...state.events.slice().reverse().map(e => {
    const open = el('button', 'trace');
    open.addEventListener('click', () => openTrace(e.correlationid || ''));
    open.disabled = !e.correlationid;
    const tr = row([e.sequence, (e.time || '').replace('T', ' ').slice(0, 19), e.type,
      `${e.aggregatetype}/${e.aggregateid}`, e.companyid || '', open]);
    tr.dataset.eventId = e.id;
    tr.dataset.aggregateId = e.aggregateid;
    return tr;
  }));
}

// Events are told apart by id, not by sequence: in a cluster the feed
// also carries other members' commits, whose sequences count their own
// logs.
function addEvents(list) {
  let added = false;
  for (const e of list) {
    if (!e.id || state.seen.has(e.id)) continue;
    state.seen.add(e.id);
    state.events.push(e);
    added = true;
  }
  if (state.events.length > 100) {
    state.events = state.events.slice(-100);
    state.seen = new Set(state.events.map(e => e.id));
  }
  if (added) renderEvents();
}

// The 100 most recent events, then the live feed (server-sent events)
// from the last of them on. The browser reconnects by itself, resuming
// with Last-Event-ID; a feed that ends for good (signed out) stays shut.
async function startEvents() {
  stopEvents();
  const r = await api('GET', '/api/events?limit=100');
  const listed = r.status === 200 && Array.isArray(r.data);
  if (listed) {
    // This member's listing: its feed goes on after the last of them.
    for (const e of r.data) state.lastSeq = Math.max(state.lastSeq, Number(e.sequence) || 0);
    addEvents(r.data);
  }
  if ($('app').hidden) return;
  const es = new EventSource('/admin/events/stream' + (listed ? '?after=' + state.lastSeq : ''));
  es.onmessage = m => {
    try { addEvents([JSON.parse(m.data)]); } catch (e) { /* not an event */ }
  };
  es.onopen = () => { $('events-note').textContent = ''; };
  es.onerror = () => {
    $('events-note').textContent = es.readyState === EventSource.CLOSED ?
      'The live feed stopped; reload the page.' : 'Reconnecting the live feed...';
  };
  state.stream = es;
  window.sbStream = es;
}

// -- search and the trace ----------------------------------------------------

function flattenTrace(events, depth, out) {
  for (const e of events) {
    out.push({ t: e.occurred_at, depth, what: 'event', text: `${e.type} ${e.aggregate_type}/${e.aggregate_id}`, id: e.id });
    for (const j of e.jobs) {
      const attempts = j.history.map(a => `attempt at ${a.started_at} (${a.duration_ms} ms): ${a.error}`);
      out.push({ t: j.created_at, depth: depth + 1, what: 'job', state: j.state,
        text: `job ${j.id} ${j.listener} on ${j.queue}: ${j.state}, ${j.attempts} attempt(s)` +
          (j.finished_at ? `, finished ${j.finished_at}` : '') + (attempts.length ? '; ' + attempts.join('; ') : '') });
      for (const m of j.messages)
        out.push({ t: m.created_at, depth: depth + 2, what: 'message', text: `${m.channel} to ${m.recipient}: ${m.subject}` });
    }
    for (const m of e.messages)
      out.push({ t: m.created_at, depth: depth + 1, what: 'message', text: `${m.channel} to ${m.recipient}: ${m.subject}` });
    flattenTrace(e.caused, depth + 1, out);
  }
  return out;
}

async function openTrace(id) {
  $('search-note').textContent = '';
  const r = await api('GET', '/api/traces/' + encodeURIComponent(id));
  if (r.status !== 200) {
    $('trace').hidden = true;
    $('search-note').textContent = r.status === 404 ? 'No trace ' + id : 'Could not read the trace (' + r.status + ')';
    return;
  }
  $('trace-id').textContent = id;
  const items = flattenTrace(r.data.events, 0, []);
  $('trace-timeline').replaceChildren(...items.map(i => {
    const li = el('li', null, 'trace-' + i.what + (i.state ? ' state-' + i.state : ''));
    li.style.marginLeft = (i.depth * 20) + 'px';
    li.appendChild(el('span', (i.t || '').replace('T', ' ').slice(0, 23), 'time'));
    li.appendChild(el('span', i.text));
    return li;
  }));
  $('trace').hidden = false;
}

async function search(kind, text) {
  if (kind === 'correlation') return openTrace(text);
  const r = await api('GET', `/api/events/${kind}/${encodeURIComponent(text)}`);
  const events = r.status === 200 && Array.isArray(r.data) ? r.data : [];
  const ids = [...new Set(events.map(e => e.correlationid).filter(Boolean))];
  if (!ids.length) {
    $('trace').hidden = true;
    $('search-note').textContent = `No events of ${kind} ${text}`;
    return;
  }
  await openTrace(ids[ids.length - 1]);
  if (ids.length > 1) $('search-note').textContent = `${ids.length} traces: ${ids.join(', ')} (showing the latest)`;
}

// -- start -------------------------------------------------------------------

document.addEventListener('DOMContentLoaded', async () => {
  $('signin-form').addEventListener('submit', async ev => {
    ev.preventDefault();
    const r = await api('POST', '/admin/events/session', { token: $('token').value });
    $('token').value = '';
    if (r.status === 200) showApp(r.data);
    else showSignIn(r.data && r.data.error ? r.data.error.message : 'sign-in failed');
  });
  $('signout').addEventListener('click', async () => {
    await api('DELETE', '/admin/events/session');
    showSignIn('Signed out.');
  });
  $('search-form').addEventListener('submit', ev => {
    ev.preventDefault();
    search($('search-kind').value, $('search-text').value.trim());
  });
  const who = await api('GET', '/admin/events/session');
  if (who.status === 200) showApp(who.data); else showSignIn('');
  setInterval(() => { if (!$('app').hidden) refreshAll(); }, 5000);
});
