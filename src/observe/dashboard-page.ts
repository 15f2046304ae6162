/**
 * The dashboard's page: one HTML document, its stylesheet and its script, served as three files
 * from the same origin so the Content-Security-Policy needs no 'unsafe-inline'. No CDN, no build
 * step; charts are drawn on <canvas> by the small functions below. Every value from the server
 * (producer and task names are user data) is put into the DOM as text (textContent), never HTML.
 */

export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>sluice dashboard</title>
<link rel="stylesheet" href="/dashboard.css">
<script src="/dashboard.js" defer></script>
</head>
<body>
<header>
  <h1>sluice</h1>
  <span id="state" class="badge">connecting</span>
  <span id="conn" class="muted">connecting…</span>
  <span class="spacer"></span>
  <span id="uptime" class="muted"></span>
</header>
<main>
  <section class="panel" id="panel-system">
    <h2>System</h2>
    <dl class="kv">
      <dt>state</dt><dd id="sys-state">-</dd>
      <dt>workers</dt><dd id="sys-workers">-</dd>
      <dt>CPU pinning</dt><dd id="sys-pinning">-</dd>
      <dt>global in flight</dt><dd id="sys-global">-</dd>
      <dt>last events</dt><dd id="sys-events" class="small">-</dd>
    </dl>
  </section>
  <section class="panel" id="panel-pool">
    <h2>Token pool</h2>
    <div class="numbers">
      <div><span class="n" id="pool-admitted">-</span><span class="l">admitted</span></div>
      <div><span class="n" id="pool-waiting">-</span><span class="l">waiting</span></div>
      <div><span class="n" id="pool-executing">-</span><span class="l">executing</span></div>
      <div><span class="n" id="pool-completed">-</span><span class="l">completed</span></div>
      <div><span class="n" id="pool-failed">-</span><span class="l">failed</span></div>
      <div><span class="n" id="pool-retracted">-</span><span class="l">retracted</span></div>
      <div><span class="n" id="pool-abandoned">-</span><span class="l">abandoned</span></div>
      <div><span class="n" id="pool-rejected">-</span><span class="l">rejected</span></div>
    </div>
    <canvas id="chart-throughput" width="560" height="140" aria-label="admitted and completed per second"></canvas>
    <div class="legend"><span class="sw a"></span>admitted/s <span class="sw c"></span>completed/s</div>
  </section>
  <section class="panel" id="panel-workers">
    <h2>Core affinity</h2>
    <table><thead><tr><th>worker</th><th>CPU</th><th>tasks run</th><th>share</th><th>busy</th><th>queued</th><th>stolen</th><th>restarts</th><th>state</th></tr></thead>
    <tbody id="workers"></tbody></table>
  </section>
  <section class="panel wide" id="panel-producers">
    <h2>Producers: admission</h2>
    <table><thead><tr><th>producer</th><th>limits</th><th>admitted</th><th>rate/s</th><th>in flight</th><th>rejected, by reason</th><th>p50</th><th>p90</th><th>p99</th></tr></thead>
    <tbody id="producers"></tbody></table>
  </section>
  <section class="panel wide" id="panel-latency">
    <h2>Latency: submit to resolve (this thread's tokens)</h2>
    <canvas id="chart-latency" width="1100" height="180" aria-label="latency histograms"></canvas>
    <div class="legend" id="latency-legend"></div>
    <div id="shm-latency" hidden>
      <h2 class="sub">Queue wait and run time, every thread (rt.stats() percentiles)</h2>
      <table><thead><tr><th>producer / task</th><th>count</th><th>queue p50</th><th>queue p99</th><th>run p50</th><th>run p99</th><th>run max</th></tr></thead>
      <tbody id="shm-latency-rows"></tbody></table>
    </div>
    <pre id="stats-extra" class="small"></pre>
  </section>
  <section class="panel" id="panel-guard">
    <h2>Guard House</h2>
    <div id="guard">-</div>
  </section>
  <section class="panel" id="panel-admin">
    <h2>Admin</h2>
    <div id="admin-disabled" class="muted" hidden>Admin is disabled: no password was configured (read-only).</div>
    <div id="login-box" class="row">
      <input id="login-password" type="password" autocomplete="current-password" placeholder="password" maxlength="1024">
      <button id="login-button" type="button">Log in</button>
    </div>
    <div id="login-status" class="muted">read-only</div>
    <div class="row">
      <button id="admin-drain" type="button" disabled>Drain</button>
      <button id="admin-resume" type="button" disabled>Resume</button>
    </div>
    <div class="row">
      <input id="kill-id" placeholder="token id, e.g. 0:12#3" maxlength="40">
      <button id="admin-kill" type="button" disabled>Kill queued token</button>
    </div>
    <div class="row">
      <select id="guard-task"></select>
      <button id="admin-isolate" type="button" disabled>Isolate</button>
      <button id="admin-release" type="button" disabled>Release</button>
    </div>
    <div id="admin-result" class="small"></div>
  </section>
  <section class="panel" id="panel-queued">
    <h2>Queued tokens</h2>
    <ul id="queued" class="list"></ul>
  </section>
  <section class="panel wide" id="panel-feed">
    <h2>Live execution feed</h2>
    <ol id="feed" class="list feed"></ol>
  </section>
</main>
</body>
</html>
`;

export const PAGE_CSS = `
:root { --bg:#0f1419; --panel:#171d24; --line:#2a333d; --fg:#d7dee6; --muted:#8593a3; --a:#5aa9ff; --c:#4cd08a; --bad:#ff6b6b; --warn:#f5c04a; }
* { box-sizing: border-box; }
[hidden] { display:none !important; }
body { margin:0; background:var(--bg); color:var(--fg); font:14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; }
header { display:flex; gap:12px; align-items:center; padding:10px 16px; border-bottom:1px solid var(--line); }
h1 { margin:0; font-size:18px; letter-spacing:.5px; }
h2.sub { margin-top:12px; }
h2 { margin:0 0 8px; font-size:13px; text-transform:uppercase; letter-spacing:.6px; color:var(--muted); }
.spacer { flex:1; }
.badge { padding:2px 10px; border-radius:10px; background:var(--line); font-weight:600; }
.badge.running { background:#1f5f3a; } .badge.draining { background:#6b5518; } .badge.closed { background:#5a2323; }
main { display:grid; grid-template-columns:repeat(auto-fill, minmax(360px, 1fr)); gap:12px; padding:12px 16px; }
.panel { background:var(--panel); border:1px solid var(--line); border-radius:8px; padding:12px; min-width:0; overflow-x:auto; }
.panel.wide { grid-column:1 / -1; }
.kv { display:grid; grid-template-columns:auto 1fr; gap:4px 12px; margin:0; }
.kv dt { color:var(--muted); } .kv dd { margin:0; }
.numbers { display:grid; grid-template-columns:repeat(4, 1fr); gap:8px; margin-bottom:8px; }
.numbers div { display:flex; flex-direction:column; }
.numbers .n { font-size:20px; font-weight:600; font-variant-numeric:tabular-nums; }
.numbers .l, .muted, .legend { color:var(--muted); font-size:12px; }
.small { font-size:12px; }
canvas { width:100%; height:auto; background:#11161c; border-radius:4px; display:block; }
table { width:100%; border-collapse:collapse; font-variant-numeric:tabular-nums; }
th, td { text-align:left; padding:3px 6px; border-bottom:1px solid var(--line); white-space:nowrap; }
th { color:var(--muted); font-weight:500; font-size:12px; }
.bar { display:inline-block; height:8px; background:var(--a); border-radius:2px; vertical-align:middle; }
.row { display:flex; gap:8px; margin:6px 0; }
input, select, button { background:#0c1116; color:var(--fg); border:1px solid var(--line); border-radius:4px; padding:5px 8px; font:inherit; }
input { flex:1; min-width:0; }
button { cursor:pointer; } button:disabled { opacity:.45; cursor:not-allowed; }
button:not(:disabled):hover { border-color:var(--a); }
.list { margin:0; padding:0; list-style:none; max-height:260px; overflow:auto; font:12px/1.5 ui-monospace, Menlo, monospace; }
.list li { display:flex; gap:8px; align-items:center; border-bottom:1px solid #1d242c; padding:1px 0; }
.feed li.admin { color:var(--warn); } .feed li.bad { color:var(--bad); }
.sw { display:inline-block; width:10px; height:10px; margin:0 4px 0 10px; border-radius:2px; }
.sw.a { background:var(--a); } .sw.c { background:var(--c); }
.ok { color:var(--c); } .err { color:var(--bad); }
pre { margin:6px 0 0; white-space:pre-wrap; color:var(--muted); }
`;

export const PAGE_JS = `'use strict';
(function () {
  var $ = function (id) { return document.getElementById(id); };
  var ws = null, authed = false, adminEnabled = false, last = null, nextId = 1;
  var COLORS = ['#5aa9ff', '#4cd08a', '#f5c04a', '#ff6b6b', '#c38bff', '#4fd1d9', '#ff9f5a', '#a0a8b3'];

  function text(el, s) { if (el.textContent !== String(s)) el.textContent = String(s); }
  function fmt(n) { return n === null || n === undefined ? '-' : Math.round(n).toLocaleString('en-US'); }
  function us(v) { if (v === null || v === undefined) return '-'; if (v < 1000) return v.toFixed(0) + ' µs'; if (v < 1e6) return (v / 1000).toFixed(1) + ' ms'; return (v / 1e6).toFixed(2) + ' s'; }
  function el(tag, cls, s) { var e = document.createElement(tag); if (cls) e.className = cls; if (s !== undefined) e.textContent = String(s); return e; }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

  function connect() {
    ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws');
    ws.onopen = function () { text($('conn'), 'live'); };
    ws.onclose = function (e) {
      text($('conn'), 'disconnected' + (e.reason ? ' (' + e.reason + ')' : '') + ': retrying');
      authed = false; buttons();
      setTimeout(connect, 2000);
    };
    ws.onmessage = function (e) {
      var m; try { m = JSON.parse(e.data); } catch (err) { return; }
      if (m.type === 'hello') { adminEnabled = !!m.admin; tasks(m.tasks || []); buttons(); }
      else if (m.type === 'update') render(m);
      else if (m.type === 'login') onLogin(m);
      else if (m.type === 'admin') onAdmin(m);
      else if (m.type === 'error') { var r = $('admin-result'); r.className = 'small err'; text(r, 'error: ' + m.error); }
    };
  }
  function sendMsg(m) { if (ws && ws.readyState === 1) { m.id = nextId++; ws.send(JSON.stringify(m)); } }

  function tasks(names) {
    var sel = $('guard-task'); clear(sel);
    names.forEach(function (n) { var o = el('option', '', n); o.value = n; sel.appendChild(o); });
  }
  function buttons() {
    $('admin-disabled').hidden = adminEnabled;
    $('login-box').hidden = !adminEnabled || authed;
    ['admin-drain', 'admin-resume', 'admin-kill', 'admin-isolate', 'admin-release'].forEach(function (id) { $(id).disabled = !authed; });
    var ks = document.querySelectorAll('button.kill'); for (var i = 0; i < ks.length; i++) ks[i].disabled = !authed;
    if (!adminEnabled) text($('login-status'), 'read-only (admin disabled)');
  }
  function onLogin(m) {
    authed = !!m.authenticated;
    var s = $('login-status');
    s.className = m.ok ? 'ok' : 'err';
    text(s, m.ok ? 'logged in: admin enabled' : 'login refused: ' + (m.error || 'wrong password'));
    if (m.ok) $('login-password').value = '';
    buttons();
  }
  function onAdmin(m) {
    var r = $('admin-result');
    r.className = 'small ' + (m.ok ? 'ok' : 'err');
    text(r, m.action + ': ' + (m.ok ? 'ok' : 'refused') + (m.message ? ' (' + m.message + ')' : m.error ? ' (' + m.error + ')' : ''));
  }

  function render(m) {
    last = m;
    var sys = m.system, pool = m.pool;
    var st = $('state'); text(st, sys.state); st.className = 'badge ' + sys.state;
    text($('sys-state'), sys.state);
    text($('sys-workers'), sys.workers);
    text($('sys-pinning'), sys.affinity.pinned ? 'pinned' : 'unpinned' + (sys.affinity.reason ? ': ' + sys.affinity.reason : ''));
    text($('sys-global'), sys.global.inFlight + ' / ' + sys.global.limit);
    text($('sys-events'), sys.events.length ? sys.events.slice(-3).join(' · ') : 'none');
    text($('uptime'), 'up ' + sys.uptimeS.toFixed(0) + ' s');
    ['admitted', 'waiting', 'executing', 'completed', 'failed', 'retracted', 'abandoned', 'rejected'].forEach(function (k) { text($('pool-' + k), fmt(pool[k])); });
    workers(m.workers);
    producers(m);
    throughput(m.throughput);
    latency(m);
    guard(m.guard);
    queued(m.queued);
    feed(m.feed);
    shmLatency(m);
    var rest = {};
    Object.keys(m.extra || {}).forEach(function (k) { if (k !== 'tasks') rest[k] = m.extra[k]; });
    var extra = Object.keys(rest).length ? JSON.stringify(rest).slice(0, 2000) : '';
    text($('stats-extra'), extra ? 'rt.stats() also reports: ' + extra : '');
  }

  function workers(ws_) {
    var tb = $('workers'); clear(tb);
    var total = ws_.reduce(function (a, w) { return a + w.executed; }, 0) || 1;
    ws_.forEach(function (w) {
      var tr = el('tr');
      tr.appendChild(el('td', '', 'w' + w.index));
      tr.appendChild(el('td', '', w.cpus ? w.cpus.join(',') : '-'));
      tr.appendChild(el('td', '', fmt(w.executed)));
      var td = el('td'); var b = el('span', 'bar'); b.style.width = Math.round(60 * w.executed / total) + 'px'; td.appendChild(b);
      td.appendChild(document.createTextNode(' ' + Math.round(100 * w.executed / total) + '%')); tr.appendChild(td);
      var u = w.extra && typeof w.extra.utilization === 'number' ? Math.round(100 * w.extra.utilization) + '%' : '-';
      tr.appendChild(el('td', '', u));
      tr.appendChild(el('td', '', w.queued));
      tr.appendChild(el('td', '', w.stolen));
      tr.appendChild(el('td', '', w.restarts));
      tr.appendChild(el('td', '', w.failed ? 'retired' : w.parked ? 'parked' : 'active'));
      tb.appendChild(tr);
    });
  }

  function producers(m) {
    var tb = $('producers'); clear(tb);
    m.producers.forEach(function (p) {
      var tr = el('tr');
      tr.appendChild(el('td', '', p.name + (p.saturated ? ' (saturated)' : '')));
      var l = p.limits; tr.appendChild(el('td', '', (l.rate !== undefined ? l.rate + '/s, burst ' + l.burst + ', ' : '') + l.slots + ' slots'));
      tr.appendChild(el('td', '', fmt(p.admitted)));
      tr.appendChild(el('td', '', fmt(p.rate)));
      tr.appendChild(el('td', '', p.inFlight));
      var rej = m.reasons.filter(function (r) { return p.rejected[r] > 0; }).map(function (r) { return r + ' ' + fmt(p.rejected[r]); });
      tr.appendChild(el('td', '', rej.length ? rej.join(', ') : '0'));
      tr.appendChild(el('td', '', us(p.latency.p50)));
      tr.appendChild(el('td', '', us(p.latency.p90)));
      tr.appendChild(el('td', '', us(p.latency.p99)));
      tb.appendChild(tr);
    });
  }

  // Percentiles kept in shared memory (rt.stats() with metrics on): per producer and per task.
  function isLat(l) { return l && l.queueWait && l.run && typeof l.run.p50 === 'number'; }
  function shmLatency(m) {
    var rows = [];
    m.producers.forEach(function (p) { if (p.extra && isLat(p.extra.latency)) rows.push(['producer ' + p.name, p.extra.latency]); });
    var ts = m.extra && Array.isArray(m.extra.tasks) ? m.extra.tasks : [];
    ts.forEach(function (t) { if (t && isLat(t.latency)) rows.push(['task ' + t.name, t.latency]); });
    $('shm-latency').hidden = rows.length === 0;
    var tb = $('shm-latency-rows'); clear(tb);
    rows.forEach(function (r) {
      var l = r[1], tr = el('tr');
      [r[0], fmt(l.run.count), us(l.queueWait.p50), us(l.queueWait.p99), us(l.run.p50), us(l.run.p99), us(l.run.max)].forEach(function (v) { tr.appendChild(el('td', '', v)); });
      tb.appendChild(tr);
    });
  }

  function canvas(id) {
    var c = $(id), ctx = c.getContext('2d');
    ctx.clearRect(0, 0, c.width, c.height);
    return { c: c, ctx: ctx, w: c.width, h: c.height };
  }

  function throughput(series) {
    var g = canvas('chart-throughput'), ctx = g.ctx;
    var max = 1; series.forEach(function (s) { max = Math.max(max, s.admitted, s.completed); });
    ctx.strokeStyle = '#2a333d'; ctx.lineWidth = 1;
    for (var i = 1; i < 4; i++) { var y = Math.round(g.h * i / 4) + 0.5; ctx.beginPath(); ctx.moveTo(0, y); ctx.lineTo(g.w, y); ctx.stroke(); }
    ctx.fillStyle = '#8593a3'; ctx.font = '11px sans-serif'; ctx.fillText(fmt(max) + '/s', 4, 12);
    [['admitted', '#5aa9ff'], ['completed', '#4cd08a']].forEach(function (k) {
      ctx.strokeStyle = k[1]; ctx.lineWidth = 2; ctx.beginPath();
      series.forEach(function (s, i) {
        var x = series.length < 2 ? 0 : i * (g.w - 1) / (series.length - 1), y = g.h - 2 - (g.h - 16) * s[k[0]] / max;
        if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
      });
      ctx.stroke();
    });
  }

  function latency(m) {
    var g = canvas('chart-latency'), ctx = g.ctx, legend = $('latency-legend'); clear(legend);
    var ps = m.producers.filter(function (p) { return p.latency.count > 0; });
    var lo = m.buckets.length, hi = 0;
    ps.forEach(function (p) { p.latency.counts.forEach(function (n, b) { if (n > 0) { lo = Math.min(lo, b); hi = Math.max(hi, b); } }); });
    if (!ps.length) { ctx.fillStyle = '#8593a3'; ctx.font = '12px sans-serif'; ctx.fillText('no resolutions yet', 8, 20); return; }
    lo = Math.max(0, lo - 1); hi = Math.min(m.buckets.length - 1, hi + 1);
    var n = hi - lo + 1, bw = (g.w - 20) / n, pad = 18;
    ps.forEach(function (p, k) {
      var tot = p.latency.count, col = COLORS[k % COLORS.length], maxF = 0;
      for (var b = lo; b <= hi; b++) maxF = Math.max(maxF, p.latency.counts[b] / tot);
      ctx.fillStyle = col; ctx.globalAlpha = 0.55;
      for (b = lo; b <= hi; b++) {
        var f = p.latency.counts[b] / tot; if (!f) continue;
        var hgt = (g.h - pad - 6) * f / (maxF || 1);
        ctx.fillRect(10 + (b - lo) * bw + k * bw / ps.length, g.h - pad - hgt, Math.max(1, bw / ps.length - 1), hgt);
      }
      ctx.globalAlpha = 1;
      var item = el('span'); var sw = el('span', 'sw'); sw.style.background = col; item.appendChild(sw);
      item.appendChild(document.createTextNode(p.name + ' (n=' + fmt(tot) + ', p50 ' + us(p.latency.p50) + ', p99 ' + us(p.latency.p99) + ')'));
      legend.appendChild(item);
    });
    ctx.fillStyle = '#8593a3'; ctx.font = '11px sans-serif';
    for (var b = lo; b <= hi; b += Math.max(1, Math.ceil(n / 10))) ctx.fillText('<' + us(m.buckets[b]), 10 + (b - lo) * bw, g.h - 4);
  }

  function guard(gd) {
    var box = $('guard'); clear(box);
    if (!gd || !gd.available) { box.appendChild(el('span', 'muted', 'Guard House: not available')); return; }
    var t = el('table'), tb = el('tbody');
    Object.keys(gd.tasks || {}).forEach(function (n) {
      var tr = el('tr'); tr.appendChild(el('td', '', n));
      var v = gd.tasks[n]; tr.appendChild(el('td', '', typeof v === 'string' ? v : JSON.stringify(v)));
      tb.appendChild(tr);
    });
    t.appendChild(tb); box.appendChild(t);
    if (gd.quarantine) box.appendChild(el('pre', 'small', 'quarantine: ' + JSON.stringify(gd.quarantine).slice(0, 2000)));
    if (gd.health) box.appendChild(el('pre', 'small', 'health: ' + JSON.stringify(gd.health).slice(0, 2000)));
  }

  // Keyed by token: a row stays the same element while its token is queued (a click on its
  // button is never lost to a redraw).
  function queued(list) {
    var ul = $('queued'), keep = {};
    list.forEach(function (q) { keep[q.token] = q; });
    var rows = ul.querySelectorAll('li');
    for (var i = 0; i < rows.length; i++) { var t = rows[i].getAttribute('data-token'); if (!t || !keep[t]) ul.removeChild(rows[i]); }
    list.forEach(function (q) {
      if (ul.querySelector('li[data-token="' + CSS.escape(q.token) + '"]')) return;
      var li = el('li'); li.setAttribute('data-token', q.token);
      li.appendChild(el('span', '', q.token));
      li.appendChild(el('span', 'muted', q.producer + (q.task ? ' · ' + q.task : '')));
      var b = el('button', 'kill', 'kill'); b.type = 'button'; b.disabled = !authed;
      b.addEventListener('click', function () { sendMsg({ type: 'admin', action: 'kill', token: q.token }); });
      li.appendChild(b); ul.appendChild(li);
    });
    var none = ul.querySelector('li.none');
    if (!list.length && !none) ul.appendChild(el('li', 'none muted', 'none'));
    if (list.length && none) ul.removeChild(none);
  }

  function feed(entries) {
    var ol = $('feed'); clear(ol);
    entries.slice().reverse().forEach(function (f) {
      var li = el('li', f.kind === 'admin' ? 'admin' : (f.what === 'rejected' || f.what === 'abandoned' || f.kind === 'worker-died') ? 'bad' : '');
      li.setAttribute('data-kind', f.kind);
      var time = new Date(f.at).toISOString().slice(11, 23);
      var s = time + '  ' + f.kind + ' ' + f.what;
      if (f.token) s += '  ' + f.token;
      if (f.kind === 'admin') s += '  by session ' + f.session + (f.ok ? ' ok' : ' refused/no effect');
      if (f.producer) s += '  ' + f.producer;
      if (f.task) s += ' · ' + f.task;
      if (f.latencyUs >= 0) s += '  ' + us(f.latencyUs);
      li.textContent = s; ol.appendChild(li);
    });
  }

  document.addEventListener('DOMContentLoaded', function () {
    $('login-button').addEventListener('click', function () { sendMsg({ type: 'login', password: $('login-password').value }); });
    $('login-password').addEventListener('keydown', function (e) { if (e.key === 'Enter') $('login-button').click(); });
    $('admin-drain').addEventListener('click', function () { sendMsg({ type: 'admin', action: 'drain' }); });
    $('admin-resume').addEventListener('click', function () { sendMsg({ type: 'admin', action: 'resume' }); });
    $('admin-kill').addEventListener('click', function () { sendMsg({ type: 'admin', action: 'kill', token: $('kill-id').value.trim() }); });
    $('admin-isolate').addEventListener('click', function () { sendMsg({ type: 'admin', action: 'isolate', task: $('guard-task').value }); });
    $('admin-release').addEventListener('click', function () { sendMsg({ type: 'admin', action: 'release', task: $('guard-task').value }); });
    connect();
  });
})();
`;
