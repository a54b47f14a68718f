// cc-relay web dashboard: a single page, hash routes, no framework. Every call goes to
// /ui/api/<Method> (the Management API's own JSON) with the session's CSRF token; live stats
// come from /ui/api/events (Server-Sent Events of StatsSnapshot). Text from the server is only
// ever set as textContent (never parsed as HTML).
'use strict';

const state = {
  role: '',
  csrf: '',
  events: null,
  drainingPoll: null, // the timer that looks at the providers again while a key drains
  last: null,        // the latest StatsSnapshot
  points: [],        // {t, rps, err, p50, p99, ttft, tokh, costh}, an hour of them
  prev: null,        // the previous snapshot's totals for rates
  window: [],        // the last minute of {t, requests, errors, tokens, usd}
  seen: new Map(),   // request_id -> RequestSummary (for latency percentiles)
  page: '',
};
const HOUR_MS = 3600 * 1000;

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (v === true) e.setAttribute(k, '');
    else if (v !== false && v !== undefined && v !== null) e.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function table(headers, rows) {
  return el('div', { class: 'scroll' },
    el('table', {},
      el('thead', {}, el('tr', {}, headers.map((h) => el('th', { scope: 'col' }, h)))),
      el('tbody', {}, rows.map((r) => el('tr', {}, r.map((c) => el('td', {}, c)))))));
}

function say(text, isError) {
  const s = $('status');
  s.textContent = text;
  s.className = isError ? 'status error' : 'status';
}

async function api(method, body) {
  const r = await fetch('api/' + method, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-csrf-token': state.csrf },
    body: JSON.stringify(body || {}),
    credentials: 'same-origin',
  });
  const j = await r.json().catch(() => ({ error: { code: 'UNKNOWN', message: r.statusText } }));
  if (r.status === 401) {
    showLogin();
  }
  if (!r.ok) {
    const e = new Error((j.error && j.error.message) || r.statusText);
    e.code = j.error && j.error.code;
    throw e;
  }
  return j;
}

// Runs a change, reports its outcome and refreshes the page.
async function act(what, method, body) {
  try {
    const out = await api(method, body);
    say(what + ': done');
    render();
    return out;
  } catch (e) {
    say(what + ': ' + (e.code === 'PERMISSION_DENIED' ? 'not allowed (' + e.message + ')' : e.message), true);
    return null;
  }
}

function fmt(n, digits) {
  if (n === null || n === undefined || Number.isNaN(n)) return '—';
  return Number(n).toLocaleString('en-US', { maximumFractionDigits: digits === undefined ? 1 : digits });
}

function when(ms) {
  const v = Number(ms);
  if (!v) return '—';
  return new Date(v).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

// ---- login and session ----

function showLogin() {
  stopEvents();
  state.role = '';
  state.csrf = '';
  $('nav').hidden = true;
  $('who').hidden = true;
  $('logout').hidden = true;
  for (const p of document.querySelectorAll('.page')) p.hidden = p.id !== 'page-login';
  $('login-token').focus();
}

function loggedIn(j) {
  state.role = j.role;
  state.csrf = j.csrf;
  document.body.classList.toggle('readonly', j.role !== 'admin');
  $('nav').hidden = false;
  $('who').hidden = false;
  $('who').textContent = j.role === 'admin' ? 'admin' : 'read-only';
  $('logout').hidden = false;
  startEvents();
  if (!location.hash || location.hash === '#/login') location.hash = '#/overview';
  route();
}

async function login(ev) {
  ev.preventDefault();
  $('login-error').textContent = '';
  const r = await fetch('login', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token: $('login-token').value }),
    credentials: 'same-origin',
  });
  const j = await r.json().catch(() => ({}));
  $('login-token').value = '';
  if (!r.ok) {
    $('login-error').textContent = (j.error && j.error.message) || 'login failed';
    return;
  }
  loggedIn(j);
}

async function logout() {
  await fetch('logout', { method: 'POST', headers: { 'x-csrf-token': state.csrf } });
  showLogin();
}

// ---- live stats ----

function startEvents() {
  stopEvents();
  const es = new EventSource('api/events');
  es.onmessage = (m) => onSnapshot(JSON.parse(m.data));
  es.onerror = () => say('live stats interrupted; reconnecting…', true);
  state.events = es;
}

function stopEvents() {
  if (state.events) state.events.close();
  state.events = null;
}

function percentile(sorted, p) {
  if (!sorted.length) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

function spentUsd(s) {
  return (s.users || []).reduce((a, u) => a + Number(u.usd_today || 0), 0);
}

function onSnapshot(s) {
  if ($('status').className.includes('error') && $('status').textContent.startsWith('live')) say('');
  state.last = s;
  const t = Number(s.unix_ms) || Date.now();
  const cur = {
    t,
    requests: Number(s.requests),
    errors: Number(s.errors),
    tokens: Number(s.input_tokens) + Number(s.output_tokens),
    usd: spentUsd(s),
  };
  state.window.push(cur);
  while (state.window.length > 2 && t - state.window[0].t > 60000) state.window.shift();
  for (const r of s.recent || []) state.seen.set(r.request_id, r);
  for (const [id, r] of state.seen) if (t - Number(r.unix_ms) > 60000) state.seen.delete(id);
  const first = state.window[0];
  const dt = (cur.t - first.t) / 1000;
  const point = { t, rps: 0, err: 0, p50: null, p99: null, ttft: null, tokh: 0, costh: 0 };
  if (dt > 0) {
    const dreq = Math.max(0, cur.requests - first.requests);
    point.rps = dreq / dt;
    point.err = dreq ? (100 * Math.max(0, cur.errors - first.errors)) / dreq : 0;
    point.tokh = (Math.max(0, cur.tokens - first.tokens) / dt) * 3600;
    point.costh = (Math.max(0, cur.usd - first.usd) / dt) * 3600;
  }
  const durations = [...state.seen.values()].map((r) => Number(r.duration_ms)).sort((a, b) => a - b);
  const ttfts = [...state.seen.values()].map((r) => Number(r.ttfb_ms)).sort((a, b) => a - b);
  point.p50 = percentile(durations, 0.5);
  point.p99 = percentile(durations, 0.99);
  point.ttft = percentile(ttfts, 0.5);
  state.points.push(point);
  while (state.points.length && t - state.points[0].t > HOUR_MS) state.points.shift();
  if (state.page === 'overview') renderOverview();
  if (state.page === 'requests') renderRequests();
}

// ---- charts (canvas, own code) ----

function css(name) {
  return getComputedStyle(document.body).getPropertyValue(name).trim();
}

function drawChart(canvas, series) {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth || 600;
  const h = canvas.clientHeight || 160;
  if (canvas.width !== Math.round(w * dpr)) canvas.width = Math.round(w * dpr);
  if (canvas.height !== Math.round(h * dpr)) canvas.height = Math.round(h * dpr);
  const g = canvas.getContext('2d');
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, w, h);
  const pts = state.points;
  const now = pts.length ? pts[pts.length - 1].t : Date.now();
  const t0 = now - HOUR_MS;
  let max = 0;
  for (const s of series) for (const p of pts) if (p[s.key] !== null) max = Math.max(max, p[s.key]);
  max = max > 0 ? max * 1.15 : 1;
  const left = 48;
  const bottom = h - 18;
  g.strokeStyle = css('--grid');
  g.fillStyle = css('--muted');
  g.font = '11px system-ui, sans-serif';
  g.lineWidth = 1;
  for (let i = 0; i <= 4; i++) {
    const y = 6 + ((bottom - 6) * i) / 4;
    g.beginPath();
    g.moveTo(left, y);
    g.lineTo(w - 4, y);
    g.stroke();
    g.fillText(fmt(max * (1 - i / 4), max < 10 ? 2 : 0), 2, y + 4);
  }
  g.fillText('−60 min', left, h - 4);
  g.fillText('now', w - 28, h - 4);
  series.forEach((s, i) => {
    g.strokeStyle = css(s.color);
    g.lineWidth = 2;
    g.beginPath();
    let started = false;
    for (const p of pts) {
      if (p[s.key] === null) continue;
      const x = left + ((w - 4 - left) * (p.t - t0)) / HOUR_MS;
      const y = bottom - ((bottom - 6) * p[s.key]) / max;
      if (started) g.lineTo(x, y);
      else g.moveTo(x, y);
      started = true;
    }
    g.stroke();
    g.fillStyle = css(s.color);
    const last = pts.filter((p) => p[s.key] !== null).pop();
    if (last) {
      const x = left + ((w - 4 - left) * (last.t - t0)) / HOUR_MS;
      g.fillRect(x - 2, bottom - ((bottom - 6) * last[s.key]) / max - 2, 4, 4);
    }
    g.fillText(s.label, left + 8 + i * 90, 16);
  });
}

function renderOverview() {
  const s = state.last;
  const p = state.points[state.points.length - 1] || {};
  const tiles = [
    ['Requests/s', fmt(p.rps, 2)],
    ['Error rate', p.rps === undefined ? '—' : fmt(p.err, 1) + ' %'],
    ['Latency p50 / p99', fmt(p.p50, 0) + ' / ' + fmt(p.p99, 0) + ' ms'],
    ['Time to first token p50', fmt(p.ttft, 0) + ' ms'],
    ['Tokens/h', fmt(p.tokh, 0)],
    ['Cost/h', '$' + fmt(p.costh, 2)],
    ['Requests (total)', s ? fmt(s.requests, 0) : '—'],
    ['Active streams', s ? fmt(s.active_streams, 0) : '—'],
    ['Snapshot', s ? 'v' + s.snapshot_version + ' · ' + s.strategy : '—'],
  ];
  $('tiles').replaceChildren(...tiles.map(([k, v]) =>
    el('div', { class: 'tile card' }, el('div', { class: 'k' }, k), el('div', { class: 'v' }, v))));
  drawChart($('chart-rps'), [{ key: 'rps', label: 'req/s', color: '--c1' }]);
  drawChart($('chart-err'), [{ key: 'err', label: 'errors %', color: '--c3' }]);
  drawChart($('chart-lat'), [
    { key: 'p50', label: 'p50', color: '--c1' },
    { key: 'p99', label: 'p99', color: '--c3' },
    { key: 'ttft', label: 'ttft p50', color: '--c2' },
  ]);
  drawChart($('chart-tok'), [
    { key: 'tokh', label: 'tokens/h', color: '--c1' },
    { key: 'costh', label: 'USD/h', color: '--c2' },
  ]);
}

// ---- pages ----

function writeButton(label, onclick, attrs) {
  return el('button', Object.assign({ type: 'button', class: 'write', onclick }, attrs || {}), label);
}

function headroom(k) {
  const l = k.limits || {};
  const parts = [];
  if (l.rpm_limit) parts.push(fmt(Math.max(0, l.rpm_limit - k.rpm_used), 0) + ' rpm');
  if (l.tpm_limit) parts.push(fmt(Math.max(0, l.tpm_limit - k.tpm_used), 0) + ' tpm');
  return parts.length ? parts.join(', ') : 'no limit';
}

async function renderProviders() {
  const j = await api('ListProviders');
  const out = [];
  const select = $('addkey-provider');
  const chosen = select.value;
  select.replaceChildren(...j.providers.map((p) => el('option', { value: p.name }, p.name)));
  if (chosen) select.value = chosen;
  for (const p of j.providers) {
    const keys = (p.keys || []).map((k) => [
      el('code', {}, k.fingerprint),
      el('span', { class: 'state ' + k.state }, k.state),
      k.reason || '',
      k.check_state + (k.check_reason ? ': ' + k.check_reason : ''),
      headroom(k),
      fmt(k.requests, 0) + ' / ' + fmt(k.errors, 0),
      // A draining key (removed or rotated away, until every data plane has applied that) takes
      // no action; the page looks again each second until it is gone.
      k.state === 'draining' ? '' : el('span', { class: 'row' },
        writeButton(k.state === 'disabled' ? 'Enable' : 'Disable', () =>
          act((k.state === 'disabled' ? 'enable ' : 'disable ') + k.fingerprint, 'SetKeyEnabled',
            { provider: p.name, fingerprint: k.fingerprint, enabled: k.state === 'disabled' }),
        { 'aria-label': (k.state === 'disabled' ? 'Enable' : 'Disable') + ' key ' + k.fingerprint }),
        writeButton('Rotate', () => rotateKey(p.name, k.fingerprint),
          { 'aria-label': 'Rotate key ' + k.fingerprint }),
        writeButton('Remove', async () => {
          if (await confirmDialog('Remove key ' + k.fingerprint + ' from ' + p.name + '?')) {
            act('remove ' + k.fingerprint, 'RemoveKey', { provider: p.name, fingerprint: k.fingerprint });
          }
        }, { 'aria-label': 'Remove key ' + k.fingerprint })),
    ]);
    out.push(el('article', { class: 'card provider' },
      el('h2', {}, p.name, ' ', el('small', {}, p.type + ' · ' + p.base_url)),
      el('p', {},
        'health ', el('span', { class: 'state ' + p.health }, p.health),
        ' · check ', p.check_state + (p.check_reason ? ' (' + p.check_reason + ')' : ''),
        ' · ', fmt(p.requests, 0), ' requests, ', fmt(p.errors, 0), ' errors, ttfb ',
        fmt(p.avg_latency_ms, 0), ' ms',
        p.credentials ? ' · credentials: ' + p.credentials : '', ' ',
        writeButton(p.enabled ? 'Disable provider' : 'Enable provider', () =>
          act((p.enabled ? 'disable ' : 'enable ') + p.name, 'SetProviderEnabled',
            { name: p.name, enabled: !p.enabled }),
        { 'aria-label': (p.enabled ? 'Disable' : 'Enable') + ' provider ' + p.name })),
      keys.length
        ? table(['Key', 'State', 'Reason', 'Check', 'Headroom', 'Requests / errors', ''], keys)
        : el('p', {}, 'no keys (passthrough or minted credentials)')));
  }
  $('providers').replaceChildren(
    el('p', {}, 'strategy ', j.strategy, ' · snapshot v', j.snapshot_version), ...out);
  const draining = j.providers.some((p) => (p.keys || []).some((k) => k.state === 'draining'));
  if (draining && !state.drainingPoll) {
    state.drainingPoll = setTimeout(() => {
      state.drainingPoll = null;
      if (state.page === 'providers') render();
    }, 1000);
  }
}

function dialog(title, body, withCancel) {
  const d = $('dialog');
  $('dialog-title').textContent = title;
  $('dialog-body').replaceChildren(...body);
  $('dialog-cancel').hidden = !withCancel;
  d.returnValue = '';
  d.showModal();
  return new Promise((resolve) => d.addEventListener('close', () => resolve(d.returnValue), { once: true }));
}

async function confirmDialog(question) {
  return (await dialog(question, [el('p', {}, 'This cannot be undone.')], true)) === 'ok';
}

function limitsFrom(rpmId, tpmId) {
  const limits = {};
  if (Number($(rpmId).value) > 0) limits.rpm_limit = Number($(rpmId).value);
  if (Number($(tpmId).value) > 0) limits.tpm_limit = Number($(tpmId).value);
  return Object.keys(limits).length ? limits : undefined;
}

async function rotateKey(provider, fingerprint) {
  const input = el('input', { id: 'rotate-key', type: 'password', autocomplete: 'off' });
  const ok = await dialog('Rotate key ' + fingerprint + ' of ' + provider, [
    el('label', { for: 'rotate-key' }, 'New key (sent once, never shown again)'), input,
  ], true);
  const key = input.value;
  input.value = '';
  if (ok !== 'ok' || !key) return;
  const out = await act('rotate ' + fingerprint, 'RotateKey',
    { provider, old_fingerprint: fingerprint, new_key: key });
  if (out) say('rotated ' + fingerprint + ' → ' + out.fingerprint + ' (the old key drains)');
}

async function addKey(ev) {
  ev.preventDefault();
  const key = $('addkey-key').value;
  $('addkey-key').value = '';
  const out = await act('add key', 'AddKey',
    { provider: $('addkey-provider').value, key, limits: limitsFrom('addkey-rpm', 'addkey-tpm') });
  if (out) say('added key ' + out.fingerprint + ' to ' + out.provider);
}

async function renderDataPlanes() {
  const j = await api('ListDataPlanes');
  const rows = (j.data_planes || []).map((d) => [
    d.id, d.connected ? 'connected' : 'gone', d.build_version, d.listen_address,
    'v' + d.acked_version, d.nacked_version !== '0' && d.nacked_version !== 0 ? 'v' + d.nacked_version + ': ' + d.nack_error : '',
    when(d.last_contact_unix_ms), fmt(d.active_streams, 0),
  ]);
  $('dataplanes').replaceChildren(rows.length
    ? table(['Id', 'State', 'Version', 'Listen', 'Acked snapshot', 'Rejected (error)', 'Last contact', 'Streams'], rows)
    : el('p', {}, 'no data plane has connected'));
}

async function renderTeammates() {
  let j;
  try {
    j = await api('ListUsers');
  } catch (e) {
    $('teammates').replaceChildren(el('p', {}, 'teammates are not available here: ' + e.message));
    return;
  }
  const rows = (j.users || []).map((u) => {
    const b = (u.policy && u.policy.budget) || {};
    const budget = b.usd_per_month ? '$' + fmt(u.usd_this_month, 2) + ' of $' + fmt(b.usd_per_month, 2) + ' this month'
      : '$' + fmt(u.usd_this_month, 2) + ' this month (no budget)';
    return [
      u.name, el('code', {}, u.key_fingerprint), u.enabled ? 'enabled' : 'disabled', budget,
      u.budget_state || '—', fmt(u.requests_this_month, 0),
      el('span', { class: 'row' },
        writeButton(u.enabled ? 'Disable' : 'Enable', () =>
          act((u.enabled ? 'disable ' : 'enable ') + u.name, 'SetUserEnabled', { name: u.name, enabled: !u.enabled }),
        { 'aria-label': (u.enabled ? 'Disable ' : 'Enable ') + u.name }),
        writeButton('Rotate key', async () => {
          const out = await act('rotate key of ' + u.name, 'RotateUserKey', { name: u.name });
          if (out) showNewKey(out);
        }, { 'aria-label': 'Rotate the relay key of ' + u.name }),
        writeButton('Budget', () => editBudget(u), { 'aria-label': 'Budget of ' + u.name }),
        writeButton('Remove', async () => {
          if (await confirmDialog('Remove ' + u.name + '? Their relay key stops working.')) {
            act('remove ' + u.name, 'RemoveUser', { name: u.name });
          }
        }, { 'aria-label': 'Remove ' + u.name })),
    ];
  });
  $('teammates').replaceChildren(rows.length
    ? table(['Name', 'Key', 'State', 'Spend', 'Budget', 'Requests', ''], rows)
    : el('p', {}, 'no teammates yet'));
  renderUsage();
}

async function editBudget(u) {
  const policy = u.policy || {};
  const b = policy.budget || {};
  const month = el('input', { id: 'budget-month', type: 'number', min: '0', step: '0.01', value: String(b.usd_per_month || 0) });
  const day = el('input', { id: 'budget-day', type: 'number', min: '0', step: '0.01', value: String(b.usd_per_day || 0) });
  const ok = await dialog('Budget of ' + u.name, [
    el('label', { for: 'budget-month' }, 'USD per month (0 = none)'), month,
    el('label', { for: 'budget-day' }, 'USD per day (0 = none)'), day,
  ], true);
  if (ok !== 'ok') return;
  policy.budget = Object.assign({}, b, { usd_per_month: Number(month.value) || 0, usd_per_day: Number(day.value) || 0 });
  act('budget of ' + u.name, 'SetUserPolicy', { name: u.name, policy });
}

async function renderUsage() {
  try {
    const r = await api('GetUsage', { group_by: ['user', 'model'] });
    const rows = (r.rows || []).map((x) => [x.user || 'anonymous', x.model, fmt(x.requests, 0), fmt(x.errors, 0),
      fmt(Number(x.input_tokens) + Number(x.output_tokens), 0), '$' + fmt(x.cost_usd, 4)]);
    $('usage').replaceChildren(el('h2', {}, 'Usage this month'), rows.length
      ? table(['User', 'Model', 'Requests', 'Errors', 'Tokens', 'Cost'], rows)
      : el('p', {}, 'no usage recorded yet'));
  } catch (e) {
    $('usage').replaceChildren();
  }
}

function showNewKey(out) {
  const code = el('code', { class: 'secret', tabindex: '0' }, out.key);
  out.key = '';
  dialog('Relay key of ' + out.user.name, [
    el('p', {}, 'Copy it now: it is shown this once.'), code,
  ], false).then(() => code.remove());
}

async function addUser(ev) {
  ev.preventDefault();
  const month = Number($('adduser-month').value) || 0;
  const body = { name: $('adduser-name').value, policy: {} };
  if (month > 0) body.policy.budget = { usd_per_month: month };
  const models = $('adduser-models').value.split(',').map((m) => m.trim()).filter(Boolean);
  if (models.length) body.policy.allowed_models = models;
  const out = await act('add ' + body.name, 'AddUser', body);
  if (out) {
    $('adduser-name').value = '';
    showNewKey(out);
  }
}

function renderRequests() {
  const s = state.last;
  const rows = ((s && s.recent) || []).map((r) => [
    when(r.unix_ms), r.model, r.provider, el('code', {}, r.key_fingerprint || ''),
    el('span', { class: Number(r.status) >= 400 ? 'state failing' : 'state active' }, String(r.status)),
    fmt(r.ttfb_ms, 0) + ' ms', fmt(r.duration_ms, 0) + ' ms',
    fmt(r.input_tokens, 0) + ' / ' + fmt(r.output_tokens, 0), r.user || '', r.data_plane,
  ]);
  $('requests').replaceChildren(rows.length
    ? table(['Time', 'Model', 'Provider', 'Key', 'Status', 'TTFB', 'Duration', 'Tokens in / out', 'User', 'Data plane'], rows)
    : el('p', {}, 'no requests yet (live)'));
}

async function renderConfig() {
  const [c, st] = await Promise.all([api('ShowConfig'), api('GetConfigStatus')]);
  $('config-yaml').textContent = c.yaml;
  $('config-status').textContent = 'snapshot v' + st.snapshot_version + ' from ' + (st.path || 'built-in default') +
    ', loaded ' + when(st.loaded_unix_ms) + (st.last_reload_ok ? '' : ' · last reload rejected: ' +
      (st.last_errors || []).map(errText).join('; '));
}

function errText(e) {
  return (e.file || '<pasted>') + ':' + e.line + ':' + e.column + ': ' + (e.key_path ? e.key_path + ': ' : '') + e.message;
}

async function validate(ev) {
  ev.preventDefault();
  const out = $('validate-result');
  out.replaceChildren();
  try {
    const r = await api('ValidateConfig', { yaml: $('validate-yaml').value, path: 'pasted.yaml' });
    out.replaceChildren(r.valid ? el('p', { class: 'ok' }, 'valid')
      : el('ul', { class: 'errors' }, r.errors.map((e) => el('li', {}, errText(e)))));
  } catch (e) {
    out.replaceChildren(el('p', { class: 'error' }, e.message));
  }
}

async function reload() {
  const r = await act('reload', 'ReloadConfig', {});
  if (r && !r.last_reload_ok) say('reload rejected: ' + (r.last_errors || []).map(errText).join('; '), true);
}

async function explain(ev) {
  ev.preventDefault();
  const tools = $('route-tools').value.split(',').map((t) => t.trim()).filter(Boolean);
  const out = $('route-result');
  try {
    const r = await api('ExplainRoute', { request: {
      model: $('route-model').value, input_tokens: Number($('route-tokens').value) || 0,
      thinking: $('route-thinking').checked, tools } });
    const rows = (r.ranked || []).map((c, i) => [
      String(i + 1), c.name, c.model, c.expected_cost_usd >= 0 ? '$' + fmt(c.expected_cost_usd, 4) : '—',
      c.ttft_ms >= 0 ? fmt(c.ttft_ms, 0) + ' ms' : '—', c.breaker, c.check_state,
      (c.keys || []).map((k) => k.fingerprint + (k.headroom ? '' : ' (' + k.state + ')')).join(', '), c.note,
    ]);
    out.replaceChildren(
      el('p', {}, 'data plane ', r.data_plane_id, ' · strategy ', r.strategy, r.rule ? ' · rule ' + r.rule : '',
        ' · first: ', r.first_provider || 'none', r.first_key ? ' key ' + r.first_key : '', ' (', r.first_reason, ')'),
      table(['#', 'Provider', 'Model', 'Expected cost', 'TTFT', 'Breaker', 'Check', 'Keys', 'Note'], rows),
      (r.excluded || []).length ? el('ul', {}, r.excluded.map((x) => el('li', {}, x.name + ': ' + x.reason))) : null);
  } catch (e) {
    out.replaceChildren(el('p', { class: 'error' }, e.message));
  }
}

const pages = {
  overview: renderOverview,
  providers: renderProviders,
  dataplanes: renderDataPlanes,
  teammates: renderTeammates,
  requests: renderRequests,
  config: renderConfig,
  routing: () => {},
};

// One render at a time: a render asked for while one runs makes it run once more when it ends,
// so an older answer (a list fetched before a change) never replaces a newer one on the page.
let rendering = null;
let renderAgain = false;
async function render() {
  if (rendering) {
    renderAgain = true;
    return rendering;
  }
  rendering = (async () => {
    do {
      renderAgain = false;
      try {
        await pages[state.page]();
      } catch (e) {
        say(e.message, true);
      }
    } while (renderAgain);
  })();
  try {
    await rendering;
  } finally {
    rendering = null;
  }
}

function route() {
  if (!state.role) return;
  let name = location.hash.replace(/^#\//, '');
  if (!pages[name]) name = 'overview';
  state.page = name;
  for (const p of document.querySelectorAll('.page')) p.hidden = p.id !== 'page-' + name;
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.getAttribute('href') === '#/' + name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  render();
}

async function boot() {
  $('login-form').addEventListener('submit', login);
  $('logout').addEventListener('click', logout);
  $('addkey-form').addEventListener('submit', addKey);
  $('adduser-form').addEventListener('submit', addUser);
  $('validate-form').addEventListener('submit', validate);
  $('route-form').addEventListener('submit', explain);
  $('reload').addEventListener('click', reload);
  window.addEventListener('hashchange', route);
  window.addEventListener('resize', () => { if (state.page === 'overview') renderOverview(); });
  const r = await fetch('session', { credentials: 'same-origin' });
  if (r.ok) loggedIn(await r.json());
  else showLogin();
}

boot();
