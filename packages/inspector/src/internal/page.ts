// The inspector's web page: one HTML document with its CSS and JS inline, so it works
// offline and behind a strict Content-Security-Policy. The server embeds the first view
// (the tree, the selected actor with its chart already laid out and drawn as SVG, its
// recent events), so everything is drawn before the first paint; the script then lights
// the active states and the last transition, filters the event log by actor and message
// id, shows restart counts, and follows the server-sent event stream for live updates.

const style = String.raw`
:root { --bg:#fafafa; --fg:#1d2330; --muted:#6b7280; --line:#d6dae1; --panel:#fff;
  --lit:#16a34a; --lit-bg:#dcfce7; --last:#ea580c; --warn:#b91c1c; --accent:#2563eb; }
* { box-sizing: border-box; }
body { margin:0; font:13px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; background:var(--bg); color:var(--fg); }
header { display:flex; gap:16px; align-items:center; padding:8px 16px; background:#111827; color:#f9fafb; }
header h1 { font-size:15px; margin:0; font-weight:600; }
.conn { font-size:12px; padding:2px 8px; border-radius:10px; background:#374151; }
.conn:empty { display:none; }
.conn.live { background:#166534; }
.conn.down { background:#991b1b; }
#inflight { font-size:12px; color:#d1d5db; }
main { display:grid; grid-template-columns: minmax(240px, 300px) 1fr; grid-template-rows: auto auto; gap:12px; padding:12px; }
section { background:var(--panel); border:1px solid var(--line); border-radius:6px; padding:8px 12px; min-width:0; }
h2 { font-size:13px; margin:4px 0 8px; text-transform:uppercase; letter-spacing:.04em; color:var(--muted); }
#log-pane { grid-column: 1 / span 2; }
#tree { overflow:auto; }
#tree ul { list-style:none; margin:0; padding-left:14px; }
#tree > ul { padding-left:0; }
.node { display:flex; gap:6px; align-items:baseline; padding:2px 4px; border-radius:4px; cursor:pointer; white-space:nowrap; }
.node:hover { background:#f3f4f6; }
.node.selected { background:#dbeafe; }
.node.status-absent, .node.status-stopped, .node.status-error, .node.status-done { opacity:.6; }
.badge { font-size:10px; padding:0 5px; border-radius:3px; background:#e5e7eb; color:#374151; text-transform:uppercase; }
.kind-supervisor .badge { background:#ede9fe; color:#5b21b6; }
.kind-worker .badge { background:#e0f2fe; color:#075985; }
.kind-consumer .badge { background:#fef3c7; color:#92400e; }
.node .name { font-weight:600; }
.node .st { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size:12px; color:var(--lit); }
.node.status-absent .st, .node.status-error .st { color:var(--warn); }
.chip { font-size:11px; padding:0 5px; border-radius:8px; background:#f3f4f6; color:#374151; }
.chip.msg { background:#fff7ed; color:#9a3412; }
.chip.rs { background:#fee2e2; color:#991b1b; }
#actor-head { display:flex; flex-wrap:wrap; gap:8px 24px; align-items:baseline; }
#actor-title { font-size:15px; text-transform:none; letter-spacing:0; color:var(--fg); margin:0; }
#facts { display:flex; flex-wrap:wrap; gap:4px 16px; margin:0; }
#facts div { display:flex; gap:4px; }
#facts dt { color:var(--muted); }
#facts dd { margin:0; font-family: ui-monospace, Menlo, monospace; }
#controls { display:flex; gap:6px; align-items:center; }
#controls button { font:inherit; padding:2px 8px; }
#controls input { width:56px; }
#control-result { color:var(--muted); font-size:12px; }
#chart-wrap { overflow:auto; margin-top:8px; padding:8px; border:1px dashed var(--line); border-radius:6px; min-height:120px; }
#chart-svg { display:block; font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; }
#chart-svg text { font-family: inherit; }
.state > .box { fill:#fff; stroke:#9ca3af; stroke-width:1.5; }
.state.root > .box { fill:none; stroke-dasharray:5 4; }
.state.type-final > .box { stroke-width:3.5; }
.state.type-parallel > .box { stroke-dasharray:2 3; }
.state .initial-dot { fill:#111827; }
.state text.title { font-weight:600; fill:var(--fg); }
.state text.meta, .state text.internal { fill:var(--muted); }
.state text.internal.last { fill:var(--last); font-weight:600; }
.state.active > .box { stroke:var(--lit); fill:var(--lit-bg); stroke-width:2.5; }
.state.root.active > .box { fill:none; stroke:#9ca3af; stroke-width:1.5; }
.state.last-source > .box { stroke:var(--last); stroke-dasharray:6 3; }
.state.active.last-source > .box { stroke:var(--lit); }
#arrows path { fill:none; stroke:#9ca3af; stroke-width:1.3; }
#arrows path.last { stroke:var(--last); stroke-width:2.5; }
.head-gray { fill:#9ca3af; } .head-last { fill:#ea580c; }
.edge-label rect { fill:#fafafa; fill-opacity:.92; stroke:none; }
.edge-label text { fill:#374151; }
.edge-label.last text { fill:var(--last); font-weight:600; }
table { border-collapse:collapse; width:100%; font-size:12px; }
th, td { text-align:left; padding:2px 6px; border-bottom:1px solid #f0f1f3; vertical-align:top; }
th { color:var(--muted); font-weight:500; position:sticky; top:0; background:var(--panel); }
td.mono, .mono { font-family: ui-monospace, Menlo, monospace; }
#log-scroll { max-height:320px; overflow:auto; }
.filters { display:flex; gap:8px; align-items:center; margin-bottom:6px; flex-wrap:wrap; }
.filters input[type=text] { font:inherit; padding:2px 6px; width:220px; }
a.msg { color:var(--accent); cursor:pointer; text-decoration:underline dotted; }
#restarts table { max-width:520px; }
.empty { color:var(--muted); font-style:italic; }
`;

const script = String.raw`
(function () {
  'use strict';
  var params = new URLSearchParams(location.search);
  var token = params.get('token');
  var base = location.pathname.replace(/\/+$/, '');
  var S = {
    tree: [], inFlight: [], controls: false,
    selected: params.get('actor'), detail: null, renderedChart: null,
    lit: '', last: null, log: [], maxLog: 500
  };

  function api(path) {
    var url = base + '/api' + path;
    if (token) url += (url.indexOf('?') < 0 ? '?' : '&') + 'token=' + encodeURIComponent(token);
    return url;
  }
  function getJSON(path) {
    return fetch(api(path), { headers: { accept: 'application/json' } }).then(function (r) {
      if (!r.ok) throw new Error(path + ': HTTP ' + r.status);
      return r.json();
    });
  }
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) Object.keys(attrs).forEach(function (k) {
      var v = attrs[k];
      if (v === undefined || v === null || v === false) return;
      if (k === 'text') node.textContent = v;
      else if (k === 'onclick') node.addEventListener('click', v);
      else node.setAttribute(k, v === true ? '' : String(v));
    });
    (children || []).forEach(function (c) {
      if (c === null || c === undefined) return;
      node.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    });
    return node;
  }
  function byId(id) { return document.getElementById(id); }
  function walk(nodes, fn) { nodes.forEach(function (n) { fn(n); walk(n.children || [], fn); }); }
  function findNode(key) {
    var found = null;
    walk(S.tree, function (n) { if (!found && (n.path === key || n.sessionId === key)) found = n; });
    return found;
  }
  function time(ms) {
    var d = new Date(ms);
    function p(n, w) { return String(n).padStart(w || 2, '0'); }
    return p(d.getHours()) + ':' + p(d.getMinutes()) + ':' + p(d.getSeconds()) + '.' + p(d.getMilliseconds(), 3);
  }

  // -- tree ------------------------------------------------------------------------
  function renderTree() {
    var host = byId('tree');
    host.textContent = '';
    if (S.tree.length === 0) { host.appendChild(el('p', { 'class': 'empty', text: 'no actors yet' })); return; }
    host.appendChild(el('ul', null, S.tree.map(treeItem)));
    var inflight = S.inFlight.length;
    byId('inflight').textContent = inflight === 0 ? 'no message in flight'
      : inflight + ' in flight: ' + S.inFlight.map(function (m) { return m.messageId + ' @ ' + m.path.split('/').slice(-2).join('/'); }).join(', ');
  }
  function treeItem(n) {
    var selected = S.selected !== null && (n.path === S.selected || n.sessionId === S.selected);
    var row = el('div', {
      'class': 'node kind-' + n.kind + ' status-' + n.status + (selected ? ' selected' : ''),
      'data-path': n.path, 'data-kind': n.kind, 'data-state': n.state || '', 'data-status': n.status,
      title: n.path + (n.sessionId ? ' (' + n.sessionId + ')' : ''),
      onclick: function () { if (n.sessionId) select(n.path); }
    }, [
      el('span', { 'class': 'badge', text: n.kind }),
      el('span', { 'class': 'name', text: n.id }),
      el('span', { 'class': 'st', text: n.status === 'active' ? n.state : (n.childStatus || n.status) }),
      n.messageId && n.state && n.state !== 'idle' ? el('span', { 'class': 'chip msg', text: n.messageId }) : null,
      n.restarts ? el('span', { 'class': 'chip rs', title: 'restarts', text: '\u21bb ' + n.restarts }) : null
    ]);
    var li = el('li', null, [row]);
    if (n.children && n.children.length) li.appendChild(el('ul', null, n.children.map(treeItem)));
    return li;
  }

  // -- selected actor ----------------------------------------------------------------
  function select(key) {
    S.selected = key;
    var url = new URL(location.href);
    url.searchParams.set('actor', key);
    history.replaceState(null, '', url);
    if (byId('f-follow').checked) { byId('f-actor').value = key; loadLog(); }
    renderTree();
    loadDetail();
  }
  function loadDetail() {
    if (!S.selected) return;
    var key = S.selected;
    getJSON('/actors/' + encodeURIComponent(key)).then(function (detail) {
      if (key !== S.selected) return;
      S.detail = detail;
      S.last = detail.lastTransition || null;
      renderDetail();
    }).catch(function (e) { byId('actor-title').textContent = key + ': ' + e.message; });
  }
  function renderDetail() {
    var d = S.detail; if (!d) return;
    var a = d.actor;
    var node = findNode(S.selected);
    var live = node && node.sessionId ? node : a;
    byId('actor-title').textContent = a.path;
    var facts = byId('facts'); facts.textContent = '';
    [['kind', a.kind], ['machine', a.machine], ['session', live.sessionId], ['status', live.status],
     ['state', live.state], ['message', live.messageId], ['attempt', live.attempt],
     ['restarts', node ? node.restarts : undefined], ['last error', live.lastError]]
      .forEach(function (f) {
        if (f[1] === undefined || f[1] === null || f[1] === '') return;
        facts.appendChild(el('div', null, [el('dt', { text: f[0] }), el('dd', { 'data-fact': f[0], text: String(f[1]) })]));
      });
    if (d.context) Object.keys(d.context).forEach(function (k) {
      if (k === 'messageId' || k === 'attempt') return;
      facts.appendChild(el('div', { 'class': 'ctx' }, [el('dt', { text: k }), el('dd', { 'data-context': k, text: String(d.context[k]) })]));
    });
    renderControls(a);
    if (d.chart && S.renderedChart !== d.chart.id) { renderChart(d); S.renderedChart = d.chart.id; }
    if (!d.chart) { byId('chart-wrap').textContent = ''; S.renderedChart = null; }
    light(live.state || '', S.last);
    renderTransitions(d.chart);
    renderRestarts(d);
  }
  function renderControls(a) {
    // Drawn once per actor: redrawing on every update would wipe what is being typed.
    var key = S.controls + ' ' + a.sessionId;
    if (S.controlsFor === key) return;
    S.controlsFor = key;
    var host = byId('controls'); host.textContent = '';
    if (!S.controls) return;
    var parent = a.parent ? true : false;
    function post(action, query) {
      fetch(api('/actors/' + encodeURIComponent(a.path) + '/' + action + (query || '')), { method: 'POST' })
        .then(function (r) { return r.json().then(function (b) { byId('control-result').textContent = r.status + ' ' + (b.error || action + ' sent'); }); });
    }
    if (parent) {
      host.appendChild(el('button', { text: 'Restart', onclick: function () { post('restart'); } }));
      host.appendChild(el('button', { text: 'Cancel', onclick: function () { if (confirm('Cancel ' + a.path + '?')) post('cancel'); } }));
    }
    if (a.kind === 'supervisor' && a.id.indexOf('pool:') === 0) {
      var node = findNode(a.path);
      var workers = node ? node.children.filter(function (c) { return c.kind === 'worker'; }).length : 1;
      var size = el('input', { type: 'number', min: '0', max: '1024', value: String(workers), 'aria-label': 'pool size' });
      host.appendChild(size);
      host.appendChild(el('button', { text: 'Scale', onclick: function () { post('scale', '?size=' + encodeURIComponent(size.value)); } }));
    }
    host.appendChild(el('span', { id: 'control-result' }));
  }

  // -- chart -------------------------------------------------------------------------
  function label(t) {
    var trigger = t.kind === 'after' ? 'after ' + (typeof t.delay === 'number' ? t.delay + 'ms' : t.delay)
      : t.kind === 'always' ? 'always'
      : t.event.indexOf('xstate.done.actor.') === 0 ? 'done ' + t.event.slice(18)
      : t.event.indexOf('xstate.error.actor.') === 0 ? 'error ' + t.event.slice(19)
      : t.event;
    return t.guard ? trigger + ' [' + t.guard + ']' : trigger;
  }
  function renderChart(d) {
    // The server lays the chart out (once per machine) and sends it drawn as SVG.
    byId('chart-wrap').innerHTML = d.svg || '';
  }
  function boxOf(path) { return byId('chart-wrap').querySelector('#chart [data-state-path="' + CSS.escape(path) + '"]'); }
  function lastEdgeKeys() {
    var last = S.last; if (!last) return [];
    var keys = [];
    (last.transitions || []).forEach(function (t) { t.targets.forEach(function (target) { keys.push(t.source + '->' + target); }); });
    return keys;
  }
  function light(stateString, last) {
    var active = { '': true };
    stateString.split(',').forEach(function (p) {
      if (!p) return;
      var parts = p.split('.');
      for (var i = 1; i <= parts.length; i++) active[parts.slice(0, i).join('.')] = true;
    });
    var wrap = byId('chart-wrap');
    wrap.querySelectorAll('#chart [data-state-path]').forEach(function (box) {
      box.classList.toggle('active', !!active[box.getAttribute('data-state-path')]);
      box.classList.remove('last-source');
    });
    wrap.querySelectorAll('#chart text.internal.last').forEach(function (t) { t.classList.remove('last'); });
    var lastEdges = lastEdgeKeys();
    wrap.querySelectorAll('#arrows path[data-edge]').forEach(function (path) {
      var isLast = lastEdges.indexOf(path.getAttribute('data-edge')) >= 0;
      path.classList.toggle('last', isLast);
      path.setAttribute('marker-end', 'url(#arrow-' + (isLast ? 'last' : 'gray') + ')');
    });
    wrap.querySelectorAll('#labels [data-edge-label]').forEach(function (g) {
      g.classList.toggle('last', lastEdges.indexOf(g.getAttribute('data-edge-label')) >= 0);
    });
    if (last) {
      (last.transitions || []).forEach(function (t) {
        var src = boxOf(t.source); if (src) src.classList.add('last-source');
        if (src && (t.targets.length === 0 || t.targets[0] === t.source || t.targets[0].indexOf(t.source === '' ? '' : t.source + '.') === 0)) {
          src.querySelectorAll('text.internal[data-event="' + CSS.escape(t.event) + '"]').forEach(function (el) { el.classList.add('last'); });
        }
      });
      if (!last.transitions && last.from) { var f = boxOf(last.from.split(',')[0]); if (f) f.classList.add('last-source'); }
    }
    S.lit = stateString;
    var lt = byId('last-transition');
    lt.textContent = last ? 'last: ' + last.type + (last.messageId ? ' (' + last.messageId + ')' : '') + '  ' + (last.from || '\u2205') + ' \u2192 ' + last.to + '  at ' + time(last.at) : '';
  }
  function renderTransitions(chart) {
    var body = byId('transitions'); body.textContent = '';
    if (!chart) return;
    var rows = [];
    (function collect(s) { s.transitions.forEach(function (t) { rows.push(t); }); s.states.forEach(collect); })(chart.root);
    body.appendChild(el('tr', null, ['from', 'on', 'to', 'actions'].map(function (h) { return el('th', { text: h }); })));
    rows.forEach(function (t) {
      body.appendChild(el('tr', null, [el('td', { 'class': 'mono', text: t.source || '(any)' }), el('td', { 'class': 'mono', text: label(t) }),
        el('td', { 'class': 'mono', text: t.targets.join(', ') || '\u2014' }), el('td', { 'class': 'mono', text: t.actions.join(', ') })]));
    });
  }
  function renderRestarts(d) {
    var host = byId('restarts'); host.textContent = '';
    if (!d.children) return;
    host.appendChild(el('h2', { text: 'Children and restarts' }));
    var table = el('table', null, [el('tr', null, ['child', 'kind', 'status', 'restarts'].map(function (h) { return el('th', { text: h }); }))]);
    d.children.forEach(function (c) {
      table.appendChild(el('tr', null, [el('td', { text: c.id }), el('td', { text: c.kind }), el('td', { text: c.status }), el('td', { 'data-restarts': c.id, text: String(c.totalRestarts) })]));
    });
    host.appendChild(table);
    if (d.restarts && d.restarts.length) {
      host.appendChild(el('p', { 'class': 'meta', text: 'recent: ' + d.restarts.slice(-10).map(function (r) { return r.child + ' #' + r.total + ' at ' + time(r.at); }).join(', ') }));
    }
  }

  // -- event log ---------------------------------------------------------------------
  function matches(e) {
    var actor = byId('f-actor').value.trim(), msg = byId('f-msg').value.trim();
    if (actor && e.path !== actor && e.actor !== actor) return false;
    if (msg && e.messageId !== msg) return false;
    return true;
  }
  function loadLog() {
    var q = [];
    var actor = byId('f-actor').value.trim(), msg = byId('f-msg').value.trim();
    if (actor) q.push('actor=' + encodeURIComponent(actor));
    if (msg) q.push('messageId=' + encodeURIComponent(msg));
    q.push('limit=300');
    getJSON('/events?' + q.join('&')).then(function (body) { S.log = body.events; renderLog(); });
  }
  function logRow(e) {
    var data = e.data ? Object.keys(e.data).map(function (k) { return k + '=' + e.data[k]; }).join(' ') : '';
    var msgCell = el('td', { 'class': 'mono' });
    if (e.messageId) msgCell.appendChild(el('a', { 'class': 'msg', text: e.messageId, onclick: function () { byId('f-msg').value = e.messageId; loadLog(); } }));
    return el('tr', { 'data-seq': e.seq }, [el('td', { 'class': 'mono', text: time(e.at) }), el('td', { 'class': 'mono', text: e.path }),
      el('td', { 'class': 'mono', text: e.type }), msgCell, el('td', { 'class': 'mono', text: (e.from || '\u2205') + ' \u2192 ' + e.to }), el('td', { 'class': 'mono', text: data })]);
  }
  function renderLog() {
    var body = byId('log-body'); body.textContent = '';
    S.log.slice(-S.maxLog).reverse().forEach(function (e) { body.appendChild(logRow(e)); });
    if (S.log.length === 0) body.appendChild(el('tr', null, [el('td', { colspan: '6', 'class': 'empty', text: 'no events match' })]));
  }

  // -- live updates ------------------------------------------------------------------
  function applyTree(body) {
    S.tree = body.tree; S.inFlight = body.inFlight || []; if (body.controls !== undefined) S.controls = body.controls;
    renderTree();
  }
  function onUpdate(u) {
    var before = S.selected ? findNode(S.selected) : null;
    applyTree(u);
    var fresh = u.events.filter(matches);
    if (fresh.length) {
      S.log = S.log.concat(fresh).slice(-S.maxLog);
      var body = byId('log-body');
      if (body.querySelector('.empty')) body.textContent = '';
      fresh.forEach(function (e) { body.insertBefore(logRow(e), body.firstChild); });
      while (body.children.length > S.maxLog) body.removeChild(body.lastChild);
    }
    if (!S.selected) return;
    var node = findNode(S.selected);
    if (!node || !S.detail) return;
    if (!before || signature(before) !== signature(node)) { loadDetail(); return; }
    var mine = u.events.filter(function (e) { return e.actor === node.sessionId && (e.from !== e.to || (e.transitions && e.transitions.some(function (t) { return t.targets.length; }))); });
    if (mine.length) S.last = mine[mine.length - 1];
    S.detail.actor = Object.assign({}, S.detail.actor, { state: node.state, messageId: node.messageId, attempt: node.attempt });
    renderDetail();
  }
  // What the detail view shows beyond the state: a change of it means fetching it again.
  function signature(n) {
    return [n.sessionId, n.status, n.restarts, n.state, n.messageId, n.attempt].concat((n.children || []).map(function (c) {
      return c.id + ':' + (c.childStatus || c.status) + ':' + (c.restarts || 0);
    })).join('|');
  }
  function connect() {
    var conn = byId('conn');
    var source = new EventSource(api('/stream'));
    source.addEventListener('open', function () { conn.textContent = 'live'; conn.className = 'conn live'; });
    source.addEventListener('error', function () { conn.textContent = 'reconnecting'; conn.className = 'conn down'; });
    source.addEventListener('tree', function (m) { applyTree(JSON.parse(m.data)); if (S.selected) loadDetail(); });
    source.addEventListener('update', function (m) { onUpdate(JSON.parse(m.data)); });
  }

  byId('f-actor').addEventListener('change', loadLog);
  byId('f-msg').addEventListener('change', loadLog);
  byId('f-clear').addEventListener('click', function () { byId('f-actor').value = ''; byId('f-msg').value = ''; byId('f-follow').checked = false; loadLog(); });
  // The server embeds the tree, the selected actor with its chart drawn, and its recent
  // events: everything is drawn before the first paint, then the live stream takes over.
  var initial = JSON.parse(byId('initial-view').textContent);
  applyTree(initial);
  if (initial.selected) {
    S.selected = initial.selected;
    if (byId('f-follow').checked) byId('f-actor').value = initial.selected;
    renderTree();
    if (initial.detail) { S.detail = initial.detail; S.last = initial.detail.lastTransition || null; renderDetail(); }
  }
  S.log = initial.events || [];
  renderLog();
  if (window.performance && performance.mark) performance.mark('troupe.drawn');
  connect();
})();
`;

const body = String.raw`
<header>
  <h1>Troupe inspector</h1>
  <span id="conn" class="conn"></span>
  <span id="inflight"></span>
</header>
<main>
  <section id="tree-pane"><h2>Supervision tree</h2><div id="tree" role="tree"></div></section>
  <section id="detail-pane">
    <div id="actor-head"><h2 id="actor-title"></h2><dl id="facts"></dl><div id="controls"></div></div>
    <div id="last-transition" class="mono"></div>
    <div id="chart-wrap"></div>
    <details><summary>Transitions</summary><table id="transitions"></table></details>
    <div id="restarts"></div>
  </section>
  <section id="log-pane">
    <h2>Events</h2>
    <div class="filters">
      <input id="f-actor" type="text" placeholder="actor path or session id" aria-label="actor filter">
      <input id="f-msg" type="text" placeholder="message id" aria-label="message id filter">
      <label><input id="f-follow" type="checkbox" checked> follow the selected actor</label>
      <button id="f-clear" type="button">show all</button>
    </div>
    <div id="log-scroll"><table><thead><tr><th>time</th><th>actor</th><th>event</th><th>message</th><th>from → to</th><th>data</th></tr></thead><tbody id="log-body"></tbody></table></div>
  </section>
</main>
`;

/** What the page draws before asking anything (embedded as JSON). */
export interface InitialView {
  readonly at: number;
  readonly controls: boolean;
  readonly tree: readonly unknown[];
  readonly inFlight: readonly unknown[];
  /** The actor shown first (its path), or null when there is none. */
  readonly selected: string | null;
  /** Its detail, with `svg`: its chart drawn. */
  readonly detail: unknown;
  readonly events: readonly unknown[];
}

/** JSON safe inside a script element: `<` never appears raw, so `</script>` cannot. */
function embedded(value: unknown): string {
  return JSON.stringify(value)
    .replaceAll('<', '\\u003c')
    .replaceAll('\u2028', '\\u2028')
    .replaceAll('\u2029', '\\u2029');
}

/**
 * The page with `initial` embedded, drawn by its script before the first paint. A busy
 * browser may paint a document it is still parsing (the header, an empty chart), so the
 * head asks it to hold rendering until the element after the script is parsed, that is
 * until the script has drawn (`<link rel=expect blocking=render>`; a browser without it
 * paints as before).
 */
export function inspectorPage(initial: InitialView): string {
  return [
    '<!doctype html>',
    '<html lang="en"><head><meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    '<title>Troupe inspector</title>',
    '<link rel="expect" href="#drawn" blocking="render">',
    `<style>${style}</style>`,
    `</head><body>${body}<script type="application/json" id="initial-view">${embedded(initial)}</script><script>${script}</script><span id="drawn" hidden></span></body></html>`,
  ].join('\n');
}
