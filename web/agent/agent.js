/* SPDX-License-Identifier: MIT
 * The agent console: login (POST /api/login), then one WebSocket with the subprotocol
 * kefu.agent.v1 (docs/protocol.md part 2): presence, the queue with reason, priority, waiting
 * time and SLA flag, conversations side by side (transcript, notes, visitor info, earlier
 * cases), reply with knowledge search and insert, notes, transfer, hand back, close, tickets.
 * New work is announced in the title and with a short tone. Everything from the server is
 * set with textContent. */
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
  function button(text, cls, fn) {
    var b = el('button', cls, text);
    b.type = 'button';
    b.addEventListener('click', fn);
    return b;
  }
  function auth() {
    try {
      var a = JSON.parse(localStorage.getItem(AUTH_KEY));
      return a && a.token && (!a.expires || a.expires > Date.now()) ? a : null;
    } catch (e) { return null; }
  }
  function toast(text, err) {
    var t = el('div', 'toast' + (err ? ' err' : ''), text);
    $('toasts').appendChild(t);
    setTimeout(function () { t.remove(); }, err ? 8000 : 5000);
  }
  function since(ms) {
    var s = Math.max(0, Math.round((Date.now() - ms) / 1000));
    return s < 60 ? s + ' s' : Math.floor(s / 60) + ' min ' + (s % 60) + ' s';
  }
  function time(ms) { return ms ? new Date(ms).toLocaleTimeString() : ''; }

  /* ---- attention: title and a short tone while the page is not looked at ---- */
  var unseen = 0, baseTitle = document.title, audio = null;
  function attention(what) {
    if (!document.hidden && document.hasFocus()) return;
    unseen++;
    document.title = '(' + unseen + ') ' + what + ' · ' + baseTitle;
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      var o = audio.createOscillator(), g = audio.createGain();
      o.frequency.value = 880;
      g.gain.value = 0.08;
      o.connect(g);
      g.connect(audio.destination);
      o.start();
      o.stop(audio.currentTime + 0.15);
    } catch (e) { /* no audio: the title is enough */ }
  }
  function seen() { unseen = 0; document.title = baseTitle; }
  window.addEventListener('focus', seen);
  document.addEventListener('visibilitychange', function () { if (!document.hidden) seen(); });

  /* ---- login ---- */
  function showLogin(on) {
    $('login').hidden = !on;
    $('desk').hidden = on;
    $('presence-box').hidden = on;
    $('logout').hidden = on;
    if (on) { $('me').textContent = ''; $('login-name').focus(); }
  }
  $('login-form').addEventListener('submit', function (e) {
    e.preventDefault();
    $('login-err').textContent = '';
    fetch('/api/login', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: $('login-name').value.trim(), password: $('login-pw').value }),
    }).then(function (r) {
      return r.json().then(function (j) {
        if (r.status === 429) throw new Error('尝试次数过多，请稍后再试 Too many attempts, wait ' + Math.ceil((j.retry_after_ms || 0) / 1000) + ' s');
        if (r.status !== 200) throw new Error('用户名或密码错误 Wrong name or password');
        localStorage.setItem(AUTH_KEY, JSON.stringify(j));
        $('login-pw').value = '';
        start();
      });
    }).catch(function (err) { $('login-err').textContent = err.message; });
  });
  $('logout').addEventListener('click', function () {
    var a = auth();
    localStorage.removeItem(AUTH_KEY);
    stop();
    showLogin(true);
    $('login-err').textContent = '';
    if (!a) return;
    // This browser forgets the login at once; if the server cannot end it, the agent is told
    // how long it stays valid (on a shared computer that matters).
    fetch('/api/logout', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ token: a.token }) })
      .then(function (r) { if (r.status !== 200) throw new Error(String(r.status)); })
      .catch(function () {
        var until = new Date(a.expires).toLocaleString();
        $('login-err').textContent = '服务器未能注销此登录，它在 ' + until + ' 前仍有效。The server could not end this login; it stays valid until ' + until + '.';
      });
  });

  /* ---- the socket ---- */
  var ws = null, attempts = 0, timer = null, stopped = true, nextId = 1, me = null;
  var pending = {}; // frame id -> what to do with its ack / error
  function send(obj, onAck, onErr) {
    obj.v = 1;
    if (onAck || onErr) {
      obj.id = 'a' + (nextId++);
      pending[obj.id] = { ack: onAck, err: onErr };
    }
    if (ws && ws.readyState === 1) ws.send(JSON.stringify(obj));
    else toast('未连接 Not connected', true);
  }
  function start() {
    var a = auth();
    if (!a) { showLogin(true); return; }
    stopped = false;
    showLogin(false);
    connect();
  }
  function stop() {
    stopped = true;
    clearTimeout(timer);
    if (ws) { var w = ws; ws = null; w.close(); }
  }
  function connect() {
    if (ws || stopped) return;
    var a = auth();
    if (!a) { showLogin(true); return; }
    $('conn').textContent = attempts ? '正在重新连接… reconnecting…' : '连接中… connecting…';
    ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws', 'kefu.agent.v1');
    ws.onopen = function () { ws.send(JSON.stringify({ v: 1, type: 'auth', token: a.token })); };
    ws.onmessage = function (e) {
      var f;
      try { f = JSON.parse(e.data); } catch (x) { return; }
      onFrame(f);
    };
    ws.onclose = function (e) {
      ws = null;
      if (stopped) return;
      if (e.code === 4001) { // unauthorized or logged out
        localStorage.removeItem(AUTH_KEY);
        stopped = true;
        showLogin(true);
        $('login-err').textContent = '登录已失效，请重新登录 Your session ended: please log in again';
        return;
      }
      var delay = Math.min(30000, 500 * Math.pow(2, attempts++)) * (0.5 + Math.random() / 2);
      $('conn').textContent = '连接中断，正在重新连接… reconnecting…';
      timer = setTimeout(connect, delay);
    };
  }

  /* ---- queue, agents, tickets ---- */
  var queue = [], agents = [], tickets = {}, knownCases = {};
  function renderQueue() {
    var ul = $('queue');
    ul.textContent = '';
    $('queue-n').textContent = queue.length;
    queue.forEach(function (it) {
      var li = el('li', it.flagged ? 'flagged' : null);
      li.dataset.conv = it.conv;
      var meta = el('div', 'meta');
      meta.appendChild(el('strong', null, '#' + it.conv));
      meta.appendChild(el('span', 'badge' + (it.urgent ? ' urgent' : ''), it.reason + (it.urgent ? ' · 优先 urgent' : '')));
      if (it.flagged) meta.appendChild(el('span', 'badge sla', 'SLA 超时 overdue'));
      var w = el('span', 'wait muted', since(it.waiting_since));
      w.dataset.since = it.waiting_since;
      meta.appendChild(w);
      li.appendChild(meta);
      if (it.preview) li.appendChild(el('div', 'preview', '“' + it.preview + '”'));
      if (it.page) li.appendChild(el('div', 'muted', it.page));
      li.appendChild(button('接入 Take', 'primary claim', function () {
        send({ type: 'claim', conv: it.conv }, null, function (f) { toast(f.message || f.code, true); });
      }));
      ul.appendChild(li);
    });
  }
  setInterval(function () {
    document.querySelectorAll('[data-since]').forEach(function (w) { w.textContent = since(Number(w.dataset.since)); });
  }, 1000);
  function renderAgents() {
    var ul = $('agents');
    ul.textContent = '';
    agents.forEach(function (a) {
      var li = el('li');
      li.appendChild(el('span', 'badge ' + a.status, a.status));
      li.appendChild(document.createTextNode(' ' + (a.display || a.name) + ' (' + a.name + ') ' + a.load + '/' + a.max_chats));
      ul.appendChild(li);
    });
    Object.keys(convs).forEach(function (k) { fillTransfer(convs[k]); });
  }
  function renderTickets() {
    var ul = $('tickets');
    ul.textContent = '';
    var list = Object.keys(tickets).map(function (k) { return tickets[k]; })
      .filter(function (t) { return t.status !== 'closed'; })
      .sort(function (a, b) { return a.created - b.created; });
    $('tickets-n').textContent = list.length;
    list.forEach(function (t) {
      var li = el('li');
      li.dataset.ticket = t.ticket;
      var meta = el('div', 'meta');
      meta.appendChild(el('strong', null, '#' + t.ticket));
      meta.appendChild(el('span', 'badge', t.status + (t.agent ? ' · ' + t.agent : '')));
      meta.appendChild(el('span', 'muted', new Date(t.created).toLocaleString()));
      li.appendChild(meta);
      li.appendChild(el('div', null, (t.name ? t.name + ' · ' : '') + t.contact));
      li.appendChild(el('div', 'preview', t.text));
      var row = el('div', 'row');
      if (t.status === 'open') row.appendChild(button('认领 Claim', null, function () { send({ type: 'ticket_claim', ticket: t.ticket }, null, errToast); }));
      row.appendChild(button('完成 Close', null, function () { send({ type: 'ticket_close', ticket: t.ticket }, null, errToast); }));
      li.appendChild(row);
      ul.appendChild(li);
    });
  }
  function errToast(f) { toast((f.code || '') + ': ' + (f.message || ''), true); }

  /* ---- conversations ---- */
  var convs = {};
  function line(c, who, text, opts) {
    opts = opts || {};
    var d = el('div', 'line ' + who + (opts.pending ? ' pending' : ''));
    if (opts.name) d.appendChild(el('span', 'who', opts.name + (opts.at ? ' · ' + time(opts.at) : '')));
    else if (opts.at) d.appendChild(el('span', 'who', time(opts.at)));
    d.appendChild(document.createTextNode(text));
    if (opts.seq) d.dataset.seq = opts.seq;
    c.log.appendChild(d);
    c.log.scrollTop = c.log.scrollHeight;
    return d;
  }
  function transcriptLine(c, t) {
    if (t.seq && c.seqs[t.seq]) return;
    if (t.seq) c.seqs[t.seq] = true;
    var who = t.from === 'visitor' ? 'visitor' : t.from === 'agent' ? 'agent' : 'bot';
    var name = who === 'visitor' ? '访客 visitor' : who === 'agent' ? (t.agent || '客服') : '机器人 bot' + (t.type ? ' · ' + t.type : '') + (t.entry ? ' · ' + t.entry : '');
    line(c, who, t.text || (t.entry ? '[' + t.entry + ']' : ''), { name: name, at: t.at, seq: t.seq });
  }
  function fillTransfer(c) {
    var sel = c.transferTo;
    var cur = sel.value;
    sel.textContent = '';
    agents.filter(function (a) { return !me || a.name !== me.name; }).forEach(function (a) {
      var o = el('option', null, (a.display || a.name) + ' · ' + a.status + ' ' + a.load + '/' + a.max_chats);
      o.value = a.name;
      o.disabled = a.status === 'offline';
      sel.appendChild(o);
    });
    if (cur) sel.value = cur;
    sel.disabled = c.transferBtn.disabled = !sel.options.length; // nobody to transfer to
  }
  function openConv(f) {
    var c = convs[f.conv];
    if (!c) {
      c = convs[f.conv] = { conv: f.conv, seqs: {} };
      var box = c.box = el('article', 'conv');
      box.dataset.conv = f.conv;
      box.setAttribute('aria-label', '会话 conversation #' + f.conv);
      var head = el('header');
      c.title = el('h2');
      c.info = el('div', 'meta');
      head.appendChild(c.title);
      head.appendChild(c.info);
      var actions = el('div', 'actions');
      actions.appendChild(button('交还机器人 Hand back', 'handback', function () { send({ type: 'handback', conv: f.conv }, null, errToast); }));
      actions.appendChild(button('结束会话 Close', 'danger close', function () { send({ type: 'close', conv: f.conv }, null, errToast); }));
      c.transferTo = el('select', 'transfer-to');
      c.transferTo.setAttribute('aria-label', '转给 transfer to');
      var tnote = el('input', 'transfer-note');
      tnote.placeholder = '转接备注 note';
      tnote.setAttribute('aria-label', '转接备注 transfer note');
      actions.appendChild(c.transferTo);
      actions.appendChild(tnote);
      c.transferBtn = button('转接 Transfer', 'transfer', function () {
        if (!c.transferTo.value) return;
        send({ type: 'transfer', conv: f.conv, to: c.transferTo.value, note: tnote.value.trim() || undefined }, null, errToast);
      });
      actions.appendChild(c.transferBtn);
      head.appendChild(actions);
      box.appendChild(head);
      c.earlier = el('details', 'earlier');
      box.appendChild(c.earlier);
      c.log = el('div', 'transcript');
      c.log.setAttribute('role', 'log');
      c.log.setAttribute('aria-live', 'polite');
      c.log.tabIndex = 0;
      box.appendChild(c.log);
      c.typing = el('div', 'typing');
      box.appendChild(c.typing);

      // reply
      var form = el('form', 'reply');
      var ta = c.input = el('textarea', 'reply-text');
      ta.placeholder = '回复访客… Reply (Enter sends, Shift+Enter new line)';
      ta.setAttribute('aria-label', '回复 reply to #' + f.conv);
      ta.maxLength = 2000;
      var typingOn = false, typingT = null;
      ta.addEventListener('input', function () {
        var on = !!ta.value.trim();
        if (on !== typingOn) { typingOn = on; send({ type: 'typing', conv: f.conv, active: on }); }
        clearTimeout(typingT);
        typingT = setTimeout(function () { if (typingOn) { typingOn = false; send({ type: 'typing', conv: f.conv, active: false }); } }, 4000);
      });
      ta.addEventListener('keydown', function (e) {
        if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); form.requestSubmit(); }
      });
      var row = el('div', 'row');
      row.appendChild(el('span', 'grow'));
      var sendB = el('button', 'primary send', '发送 Send');
      sendB.type = 'submit';
      row.appendChild(sendB);
      form.appendChild(ta);
      form.appendChild(row);
      form.addEventListener('submit', function (e) {
        e.preventDefault();
        var text = ta.value.trim();
        if (!text) return;
        ta.value = '';
        typingOn = false;
        var d = line(c, 'agent', text, { name: me ? me.display || me.name : '', pending: true });
        send({ type: 'message', conv: f.conv, text: text }, function (a) {
          d.classList.remove('pending');
          if (a.seq) { d.dataset.seq = a.seq; c.seqs[a.seq] = true; }
        }, function (x) { d.classList.add('err'); errToast(x); });
      });
      box.appendChild(form);

      // knowledge search
      var kb = el('form', 'kb');
      var q = el('input', 'kb-q');
      q.type = 'search';
      q.placeholder = '搜索知识库 Search the knowledge base';
      q.setAttribute('aria-label', '搜索知识库 knowledge search');
      q.maxLength = 200;
      var kr = el('div', 'row');
      kr.appendChild(q);
      var sb = el('button', null, '搜索 Search');
      sb.type = 'submit';
      kr.appendChild(sb);
      kb.appendChild(kr);
      c.results = el('ul', 'kb-results');
      kb.appendChild(c.results);
      kb.addEventListener('submit', function (e) {
        e.preventDefault();
        if (!q.value.trim()) return;
        send({ type: 'search', query: q.value.trim() }, null, errToast);
        searches[lastSearchId()] = c;
      });
      box.appendChild(kb);

      // notes
      var nf = el('form', 'note-form');
      var ni = el('input', 'note-text');
      ni.placeholder = '内部备注（访客看不到） Internal note (never shown to the visitor)';
      ni.setAttribute('aria-label', '内部备注 internal note');
      ni.maxLength = 2000;
      var nr = el('div', 'row');
      nr.appendChild(ni);
      var nb = el('button', null, '备注 Note');
      nb.type = 'submit';
      nr.appendChild(nb);
      nf.appendChild(nr);
      nf.addEventListener('submit', function (e) {
        e.preventDefault();
        var t = ni.value.trim();
        if (!t) return;
        ni.value = '';
        send({ type: 'note', conv: f.conv, text: t }, function () {
          line(c, 'note', t, { name: '备注 note · ' + (me ? me.name : ''), at: Date.now() });
        }, errToast);
      });
      box.appendChild(nf);
      $('convs').appendChild(box);
      fillTransfer(c);
    }
    c.title.textContent = '#' + f.conv + (f.by === 'transfer' && f.from ? ' · 来自 from ' + f.from : '');
    c.info.textContent = '';
    c.info.appendChild(el('span', 'badge' + (f.urgent ? ' urgent' : ''), (f.reason || '') + (f.urgent ? ' · 优先 urgent' : '')));
    if (f.lang) c.info.appendChild(el('span', 'badge', f.lang));
    if (f.page) c.info.appendChild(el('span', 'muted', '页面 page: ' + f.page));
    if (f.waiting_since) c.info.appendChild(el('span', 'muted', '等待 waited since ' + time(f.waiting_since)));
    c.earlier.textContent = '';
    var earlier = f.earlier || [];
    c.earlier.hidden = !earlier.length;
    c.earlier.appendChild(el('summary', null, '此前会话 Earlier cases (' + earlier.length + ')'));
    earlier.forEach(function (x) {
      c.earlier.appendChild(el('div', null, '#' + x.case + ' · ' + x.reason + ' · ' + (x.agent || '-') + ' · ' +
        new Date(x.opened).toLocaleString() + ' → ' + (x.end || '') + ' ' + (x.ended ? time(x.ended) : '')));
    });
    (f.transcript || []).forEach(function (t) { transcriptLine(c, t); });
    (f.notes || []).forEach(function (n) {
      var k = 'n' + n.at + n.text;
      if (c.seqs[k]) return;
      c.seqs[k] = true;
      line(c, 'note', n.text, { name: '备注 note · ' + n.agent, at: n.at });
    });
    if (f.by === 'transfer' && f.note) line(c, 'note', f.note, { name: '转接备注 transfer note · ' + (f.from || ''), at: Date.now() });
    $('no-convs').hidden = true;
    return c;
  }
  function closeConv(conv) {
    var c = convs[conv];
    if (!c) return;
    c.box.remove();
    delete convs[conv];
    $('no-convs').hidden = Object.keys(convs).length > 0;
  }
  var searches = {};
  function lastSearchId() { return 'a' + (nextId - 1); }
  function showResults(f) {
    var c = searches[f.id];
    delete searches[f.id];
    delete pending[f.id]; // answered by search_results, not by an ack
    if (!c) return;
    c.results.textContent = '';
    if (!f.results || !f.results.length) { c.results.appendChild(el('li', 'muted', '没有结果 no results')); return; }
    f.results.forEach(function (r) {
      var li = el('li');
      li.dataset.entry = r.entry;
      li.appendChild(el('div', 'q', r.question + ' (' + r.entry + ')'));
      li.appendChild(el('div', 'a', r.answer));
      var row = el('div', 'row');
      row.appendChild(button('插入 Insert', 'insert', function () {
        c.input.value = (c.input.value ? c.input.value.replace(/\s*$/, '\n\n') : '') + r.answer;
        c.input.focus();
      }));
      row.appendChild(button('直接发送 Send answer', 'send-entry', function () {
        send({ type: 'send_entry', conv: c.conv, entry: r.entry }, function (a) {
          var d = line(c, 'agent', r.answer, { name: (me ? me.display || me.name : '') + ' · ' + r.entry });
          if (a.seq) { d.dataset.seq = a.seq; c.seqs[a.seq] = true; }
        }, errToast);
      }));
      li.appendChild(row);
      c.results.appendChild(li);
    });
  }

  function onFrame(f) {
    switch (f.type) {
      case 'welcome':
        me = f.agent;
        attempts = 0;
        $('conn').textContent = '';
        $('me').textContent = (me.display || me.name) + ' · ' + f.assign;
        $('presence').value = f.status || 'online';
        break;
      case 'agents':
        agents = f.items || [];
        renderAgents();
        break;
      case 'queue':
        (f.items || []).forEach(function (it) {
          if (!knownCases[it.case]) { knownCases[it.case] = true; attention('排队 queue #' + it.conv); }
        });
        queue = f.items || [];
        renderQueue();
        break;
      case 'tickets':
        tickets = {};
        (f.items || []).forEach(function (t) { tickets[t.ticket] = t; });
        renderTickets();
        break;
      case 'ticket':
        if (!tickets[f.ticket.ticket]) attention('留言 ticket #' + f.ticket.ticket);
        tickets[f.ticket.ticket] = f.ticket;
        renderTickets();
        break;
      case 'assigned':
        openConv(f);
        if (f.by !== 'restore') attention('会话 #' + f.conv);
        break;
      case 'released':
        closeConv(f.conv);
        break;
      case 'message': {
        var c = convs[f.conv];
        if (c) { transcriptLine(c, f); c.typing.textContent = ''; }
        attention('消息 #' + f.conv);
        break;
      }
      case 'typing': {
        var t = convs[f.conv];
        if (t) t.typing.textContent = f.active ? '访客正在输入… visitor is typing…' : '';
        break;
      }
      case 'note': {
        var n = convs[f.conv];
        if (n && !(me && f.agent === me.name)) line(n, 'note', f.text, { name: '备注 note · ' + f.agent, at: f.at });
        break;
      }
      case 'sla':
        toast('#' + f.conv + ' 已等待 ' + f.waiting_s + ' s，超过首次响应时限 waited past the first-response limit', true);
        attention('SLA #' + f.conv);
        break;
      case 'transcript': {
        var h = convs[f.conv];
        if (h) (f.transcript || []).forEach(function (x) { transcriptLine(h, x); });
        break;
      }
      case 'search_results':
        showResults(f);
        break;
      case 'survey':
        toast('#' + f.conv + ' 满意度 CSAT ' + '★'.repeat(f.csat) + (f.comment ? ' “' + f.comment + '”' : ''));
        break;
      case 'ack': {
        var p = f.id && pending[f.id];
        if (p) { delete pending[f.id]; if (p.ack) p.ack(f); }
        break;
      }
      case 'error': {
        var q = f.id && pending[f.id];
        if (q) { delete pending[f.id]; if (q.err) q.err(f); else errToast(f); } else if (f.code !== 'unauthorized') errToast(f);
        break;
      }
      default: break;
    }
  }
  $('presence').addEventListener('change', function () {
    send({ type: 'presence', status: $('presence').value }, null, errToast);
  });

  start();
})();
