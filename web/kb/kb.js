/* SPDX-License-Identifier: MIT
 * The knowledge page, for agents and editors: explain how a question is matched (the JSON of
 * GET /api/explain, the same as `kefu ask --json`), the last reload with its file:line errors
 * (GET /api/reload-status), and the questions the bot could not answer. Requests carry the
 * agent's login token (shared with the console, ../agent/) as a Bearer header; a 401 shows
 * the login form (POST /api/login, docs/protocol.md part 2). Text from the server is only
 * ever set with textContent. */
'use strict';
(function () {
  var AUTH_KEY = 'kefu.agent.auth';
  var $ = function (id) { return document.getElementById(id); };
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function auth() {
    try {
      var a = JSON.parse(localStorage.getItem(AUTH_KEY));
      return a && a.token && (!a.expires || a.expires > Date.now()) ? a : null;
    } catch (e) { return null; }
  }
  function showLogin(on) {
    $('login').hidden = !on;
    $('main').hidden = on;
    if (on) $('login-name').focus();
  }
  function api(path) {
    var a = auth();
    var headers = { Accept: 'application/json' };
    if (a) headers.Authorization = 'Bearer ' + a.token;
    return fetch(path, { headers: headers, cache: 'no-store' }).then(function (r) {
      if (r.status === 401) { showLogin(true); throw new Error('unauthorized'); }
      return r.json().then(function (j) { return { status: r.status, body: j }; });
    });
  }
  function who() {
    var a = auth();
    $('who').textContent = a && a.agent ? (a.agent.display || a.agent.name) : '';
    $('logout').hidden = !a;
  }

  $('login-form').addEventListener('submit', function (e) {
    e.preventDefault();
    $('login-err').textContent = '';
    fetch('/api/login', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: $('login-name').value, password: $('login-pw').value }),
    }).then(function (r) {
      return r.json().then(function (j) {
        if (r.status !== 200) throw new Error(j.error === 'bad_credentials' ? '用户名或密码错误 Wrong name or password' : (j.error || r.status));
        localStorage.setItem(AUTH_KEY, JSON.stringify(j));
        $('login-pw').value = '';
        showLogin(false);
        who();
        refresh();
      });
    }).catch(function (err) { $('login-err').textContent = err.message; });
  });
  $('logout').addEventListener('click', function () {
    var a = auth();
    localStorage.removeItem(AUTH_KEY);
    if (a) fetch('/api/logout', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ token: a.token }) });
    who();
    showLogin(true);
  });

  /* ---- explain ---- */
  function fixed(x, n) { return typeof x === 'number' ? x.toFixed(n) : ''; }
  function renderExplain(q, r) {
    var box = $('explain');
    box.textContent = '';
    if (r.status !== 200) { box.appendChild(el('p', 'err', r.body.error || ('HTTP ' + r.status))); return; }
    var j = r.body;
    var dl = el('dl');
    function row(k, v, cls) {
      if (v === undefined || v === null || v === '') return;
      dl.appendChild(el('dt', null, k));
      var dd = el('dd', cls);
      if (v instanceof Node) dd.appendChild(v); else dd.textContent = String(v);
      dl.appendChild(dd);
    }
    var dec = el('span');
    dec.appendChild(el('span', 'badge ' + j.decision, j.decision));
    if (j.entry) dec.appendChild(document.createTextNode(' ' + j.entry));
    if (j.handoff_reason) dec.appendChild(document.createTextNode(' (' + j.handoff_reason + (j.urgent ? ', urgent' : '') + ')'));
    dec.appendChild(document.createTextNode('  confidence ' + fixed(j.confidence, 3) + '  language ' + j.lang + (j.lang_fallback ? ' (answered in the other language)' : '')));
    row('question', q);
    row('normalised', j.normalized, 'mono');
    row('tokens', j.tokens, 'mono');
    row('rule', j.rule ? j.rule + ' (' + j.rule_file + ':' + j.rule_line + ')' : '(none)');
    Object.keys(j.slots || {}).forEach(function (k) { row('slot', k + ' = ' + j.slots[k]); });
    row('features', j.features, 'mono');
    row('decision', dec);
    row('time', fixed(j.elapsed_us, 1) + ' µs');
    box.appendChild(dl);
    if (j.candidates && j.candidates.length) {
      var t = el('table');
      var h = el('tr');
      ['#', 'entry', 'question', 'score', 'raw'].forEach(function (x) { h.appendChild(el('th', null, x)); });
      var thead = el('thead');
      thead.appendChild(h);
      t.appendChild(thead);
      var tb = el('tbody');
      j.candidates.forEach(function (c, i) {
        var tr = el('tr', i === 0 ? 'top' : null);
        tr.appendChild(el('td', 'num', i + 1));
        tr.appendChild(el('td', 'mono', c.entry));
        tr.appendChild(el('td', null, c.question || ''));
        tr.appendChild(el('td', 'num', fixed(c.score, 3)));
        tr.appendChild(el('td', 'num', (c.raw >= 0 ? '+' : '') + fixed(c.raw, 3)));
        tb.appendChild(tr);
      });
      t.appendChild(tb);
      t.setAttribute('aria-label', 'candidates');
      box.appendChild(t);
    }
    if (j.answer || j.reply) {
      box.appendChild(el('h3', null, j.answer ? 'answer' : 'reply'));
      box.appendChild(el('pre', 'answer', j.answer || j.reply));
    }
    var raw = el('details');
    raw.appendChild(el('summary', null, 'JSON (kefu ask --json)'));
    raw.appendChild(el('pre', null, JSON.stringify(j, null, 2)));
    box.appendChild(raw);
  }
  $('ask').addEventListener('submit', function (e) {
    e.preventDefault();
    var q = $('q').value.trim();
    if (!q) return;
    var url = '/api/explain?q=' + encodeURIComponent(q) + ($('lang').value ? '&lang=' + $('lang').value : '');
    api(url).then(function (r) { renderExplain(q, r); }).catch(function (err) {
      if (err.message !== 'unauthorized') $('explain').textContent = String(err.message);
    });
  });

  /* ---- reload status ---- */
  function reloadStatus() {
    return api('/api/reload-status').then(function (r) {
      var j = r.body, box = $('reload');
      box.textContent = '';
      var p = el('p');
      if (j.ok === null || j.ok === undefined) p.appendChild(el('span', 'badge', 'no reload since start'));
      else p.appendChild(el('span', 'badge ' + (j.ok ? 'answer' : 'handoff'), j.ok ? 'ok' : 'failed'));
      p.appendChild(document.createTextNode(' ' + (j.last ? new Date(j.last).toLocaleString() + ' · ' : '') +
        j.entries + ' entries serving · reloads ok ' + j.reloads_ok + ', failed ' + j.reloads_failed));
      box.appendChild(p);
      if (j.ok === false) box.appendChild(el('p', 'muted', '上一个版本继续服务。The previous knowledge keeps serving until the errors below are fixed.'));
      if (j.errors && j.errors.length) {
        var ul = el('ul', 'errors');
        j.errors.forEach(function (x) { ul.appendChild(el('li', null, x)); });
        box.appendChild(ul);
      }
    }).catch(function () { /* shown by the login form */ });
  }
  $('reload-refresh').addEventListener('click', reloadStatus);

  /* ---- unanswered questions ---- */
  // The editors' to-do list of `kefu report` (docs/metrics.md): questions the bot missed,
  // could only clarify or answered with low confidence over the last 30 days, grouped by
  // their normalised text, most frequent first, with the latest examples.
  function unanswered() {
    var from = new Date(Date.now() - 30 * 86400000).toISOString().slice(0, 10);
    return api('/api/report?from=' + from).then(function (r) {
      var box = $('unanswered');
      box.textContent = '';
      if (r.status !== 200 || !Array.isArray(r.body.todo)) throw new Error('n/a');
      if (!r.body.todo.length) { box.appendChild(el('p', 'muted', '没有 · none')); return; }
      var ol = el('ol');
      r.body.todo.forEach(function (it) {
        var li = el('li');
        li.appendChild(el('strong', null, it.text));
        li.appendChild(document.createTextNode(' ×' + it.count));
        (it.examples || []).forEach(function (x) { li.appendChild(el('div', 'ex', x.text)); });
        ol.appendChild(li);
      });
      box.appendChild(ol);
    }).catch(function (err) {
      if (err.message === 'unauthorized') return;
      $('unanswered').textContent = '';
      $('unanswered').appendChild(el('p', 'muted', '暂时无法读取报表。The report could not be read.'));
    });
  }

  function refresh() { reloadStatus(); unanswered(); }
  who();
  refresh();
  var q0 = new URLSearchParams(location.search).get('q');
  if (q0) { $('q').value = q0; $('ask').requestSubmit(); }
})();
