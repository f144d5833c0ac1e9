/* SPDX-License-Identifier: MIT
 * kefu chat widget: one script tag on any page,
 *   <script src="https://HOST/widget.js" data-kefu-server="wss://HOST" data-lang="zh"
 *           data-title="…" data-color="#0a7" data-position="right"></script>
 * It renders inside an open Shadow DOM (styles from widget.css beside this file, loaded by a
 * <link> in the shadow root), speaks the visitor protocol of docs/protocol.md over /ws, keeps
 * the session token, the last seq and the history in localStorage, and reconnects with
 * exponential backoff and jitter. Untrusted text (answers, agents, visitors) only ever reaches
 * the page through textContent and DOM nodes built here, never through an HTML parser. */
(function () {
  'use strict';
  var script = document.currentScript;
  if (!script || window.__kefuWidget) return;
  window.__kefuWidget = true;

  var ds = script.dataset;
  var scriptUrl = new URL(script.src, location.href);
  var server = ds.kefuServer || scriptUrl.origin.replace(/^http/, 'ws');
  var wsUrl = new URL(server);
  if (wsUrl.pathname === '/' || wsUrl.pathname === '') wsUrl.pathname = '/ws';
  var uiLang = (ds.lang || navigator.language || 'en').toLowerCase().indexOf('zh') === 0 ? 'zh' : 'en';
  var position = ds.position === 'left' ? 'left' : 'right';
  var KEY = 'kefu:' + wsUrl.host + ':';
  var MAX_HISTORY = 300;

  var T = {
    zh: {
      title: '在线客服', open: '打开在线客服', close: '关闭', placeholder: '请输入您的问题…', send: '发送',
      connecting: '正在连接…', reconnecting: '连接中断，正在重新连接…', offline: '未连接',
      you: '我', bot: '客服机器人', agent: '客服', helpful: '这个回答有帮助吗？', yes: '有帮助', no: '没帮助',
      thanks: '感谢您的反馈！', typing: '对方正在输入…', queue: '您前面还有 {n} 位，预计等待约 {m} 分钟',
      queueNow: '正在为您接入人工客服…', joined: '{a} 为您服务', left: '人工客服已离开',
      lmTitle: '留言给我们', lmName: '称呼（可选）', lmContact: '邮箱或电话', lmText: '留言内容', lmSend: '提交留言',
      lmBadContact: '请填写有效的邮箱或电话号码', survey: '请为本次服务打分', surveyComment: '其他意见（可选）',
      surveySend: '提交评价', surveyThanks: '感谢您的评价！', star: '{n} 分', sending: '发送中…',
      newConv: '— 新的会话 —', error: '发送失败：{m}', messages: '聊天记录', choose: '请选择：'
    },
    en: {
      title: 'Customer service', open: 'Open customer service chat', close: 'Close',
      placeholder: 'Type your question…', send: 'Send', connecting: 'Connecting…',
      reconnecting: 'Connection lost, reconnecting…', offline: 'Offline', you: 'You', bot: 'Assistant',
      agent: 'Agent', helpful: 'Was this helpful?', yes: 'Yes', no: 'No', thanks: 'Thanks for your feedback!',
      typing: 'Typing…', queue: '{n} ahead of you, about {m} min', queueNow: 'Connecting you to an agent…',
      joined: '{a} is now helping you', left: 'The agent has left',
      lmTitle: 'Leave us a message', lmName: 'Name (optional)', lmContact: 'E-mail or phone',
      lmText: 'Your message', lmSend: 'Send message', lmBadContact: 'Please give a valid e-mail address or phone number',
      survey: 'How did we do?', surveyComment: 'Anything else? (optional)', surveySend: 'Send rating',
      surveyThanks: 'Thank you for rating us!', star: '{n} of 5', sending: 'Sending…',
      newConv: '— new conversation —', error: 'Not sent: {m}', messages: 'Messages', choose: 'Please choose:'
    }
  }[uiLang];
  var title = ds.title || T.title;
  function fmt(s, o) { return s.replace(/\{(\w+)\}/g, function (_, k) { return o[k]; }); }

  /* ---- storage: token, last seq and the frames shown (history across reloads) ---- */
  function load(k, d) {
    try { var v = localStorage.getItem(KEY + k); return v === null ? d : JSON.parse(v); } catch (e) { return d; }
  }
  function save(k, v) { try { localStorage.setItem(KEY + k, JSON.stringify(v)); } catch (e) { /* quota, private mode */ } }
  var token = load('token', null);
  var lastSeq = load('seq', 0);
  var history = load('history', []); // [{seq, f (frame), id, text, local, fb, done}]
  var seen = {};
  history.forEach(function (h) { if (h.seq) seen[h.seq] = true; });
  function persist() {
    if (history.length > MAX_HISTORY) history = history.slice(history.length - MAX_HISTORY);
    save('history', history); save('seq', lastSeq); save('token', token);
  }

  /* ---- DOM helpers ---- */
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }

  // Inline Markdown: **bold**, [text](http(s)://…), bare http(s) URLs. Anything else is text.
  function inline(parent, s) {
    var re = /\*\*([^*]+)\*\*|\[([^\]]+)\]\(([^)\s]+)\)|(https?:\/\/[^\s<>()]+[^\s<>().,;:!?，。）])/g;
    var i = 0, m;
    while ((m = re.exec(s))) {
      if (m.index > i) parent.appendChild(document.createTextNode(s.slice(i, m.index)));
      if (m[1] !== undefined) parent.appendChild(el('strong', null, m[1]));
      else link(parent, m[2] !== undefined ? m[2] : m[4], m[3] !== undefined ? m[3] : m[4]);
      i = re.lastIndex;
    }
    if (i < s.length) parent.appendChild(document.createTextNode(s.slice(i)));
  }
  function link(parent, text, href) {
    var u = null;
    try { u = new URL(href); } catch (e) { /* not absolute: no link */ }
    if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:')) {
      parent.appendChild(document.createTextNode(text));
      return;
    }
    var a = el('a', null, text);
    a.href = u.href;
    a.target = '_blank';
    a.rel = 'noopener noreferrer nofollow';
    parent.appendChild(a);
  }
  // Block Markdown: paragraphs (blank lines), "- "/"* " and "1. " lists, line breaks.
  function markdown(text) {
    var root = el('div', 'md');
    var lines = String(text || '').replace(/\r\n?/g, '\n').split('\n');
    var para = null, list = null;
    lines.forEach(function (line) {
      var ul = /^\s*[-*+]\s+(.*)$/.exec(line), ol = /^\s*\d+[.)]\s+(.*)$/.exec(line);
      if (!line.trim()) { para = null; list = null; return; }
      if (ul || ol) {
        var tag = ul ? 'ul' : 'ol';
        if (!list || list.tagName.toLowerCase() !== tag) { list = el(tag); root.appendChild(list); }
        var li = el('li');
        inline(li, (ul || ol)[1]);
        list.appendChild(li);
        para = null;
        return;
      }
      list = null;
      var h = /^#{1,6}\s+(.*)$/.exec(line);
      if (!para) { para = el('p'); root.appendChild(para); } else para.appendChild(el('br'));
      if (h) { var b = el('strong'); inline(b, h[1]); para.appendChild(b); } else inline(para, line);
    });
    return root;
  }

  /* ---- the shadow tree ---- */
  var host = document.createElement('kefu-widget');
  var shadow = host.attachShadow({ mode: 'open' });
  var css = el('link');
  css.rel = 'stylesheet';
  css.href = new URL('widget.css', scriptUrl).href;
  var root = el('div', 'kf ' + position);
  root.hidden = true; // until the stylesheet is there: no flash of unstyled widget
  css.addEventListener('load', function () { root.hidden = false; });
  css.addEventListener('error', function () { root.hidden = false; });
  if (ds.color && /^(#[0-9a-fA-F]{3,8}|[a-zA-Z]+|rgb\([\d\s,.%]+\))$/.test(ds.color)) host.style.setProperty('--kf-color', ds.color);
  shadow.appendChild(css);
  shadow.appendChild(root);

  var launcher = el('button', 'launcher');
  launcher.type = 'button';
  launcher.setAttribute('aria-label', T.open);
  launcher.setAttribute('aria-expanded', 'false');
  launcher.setAttribute('aria-controls', 'kf-panel');
  launcher.appendChild(el('span', 'icon', '💬'));
  launcher.appendChild(el('span', 'label', title));
  var unread = el('span', 'badge');
  unread.hidden = true;
  launcher.appendChild(unread);

  var panel = el('section', 'panel');
  panel.id = 'kf-panel';
  panel.hidden = true;
  panel.setAttribute('role', 'dialog');
  panel.setAttribute('aria-label', title);
  var head = el('header', 'head');
  var headText = el('div', 'head-text');
  var h2 = el('h2', null, title);
  var sub = el('div', 'sub');
  headText.appendChild(h2);
  headText.appendChild(sub);
  var closeBtn = el('button', 'close', '×');
  closeBtn.type = 'button';
  closeBtn.setAttribute('aria-label', T.close);
  head.appendChild(headText);
  head.appendChild(closeBtn);
  var status = el('div', 'status');
  status.setAttribute('role', 'status');
  var list = el('div', 'log');
  list.setAttribute('role', 'log');
  list.setAttribute('aria-live', 'polite');
  list.setAttribute('aria-label', T.messages);
  list.tabIndex = 0;
  var typing = el('div', 'typing', T.typing);
  typing.hidden = true;
  typing.setAttribute('aria-hidden', 'true');
  var queueBar = el('div', 'queue');
  queueBar.hidden = true;
  var form = el('form', 'compose');
  var input = el('textarea', 'input');
  input.rows = 1;
  input.placeholder = T.placeholder;
  input.setAttribute('aria-label', T.placeholder);
  input.maxLength = 1000;
  var sendBtn = el('button', 'send', T.send);
  sendBtn.type = 'submit';
  form.appendChild(input);
  form.appendChild(sendBtn);
  panel.appendChild(head);
  panel.appendChild(status);
  panel.appendChild(list);
  panel.appendChild(typing);
  panel.appendChild(queueBar);
  panel.appendChild(form);
  root.appendChild(panel);
  root.appendChild(launcher);
  (document.body || document.documentElement).appendChild(host);

  /* ---- connection ---- */
  var ws = null, ready = false, attempts = 0, timer = null, outbox = [], nextId = 1;
  var idBase = Date.now().toString(36) + Math.random().toString(36).slice(2, 6);
  var optionText = {}; // entry -> button text, to show a replayed choice
  function setStatus(s, cls) { status.textContent = s; status.className = 'status ' + (cls || ''); }
  function connect() {
    if (ws) return;
    clearTimeout(timer);
    timer = null;
    setStatus(attempts ? T.reconnecting : T.connecting, attempts ? 'warn' : '');
    try { ws = new WebSocket(wsUrl.href, 'kefu.visitor.v1'); } catch (e) { ws = null; retry(); return; }
    ws.onopen = function () {
      // fold_acks: a reply sent at once acknowledges the message too (docs/protocol.md)
      var hello = { v: 1, type: 'hello', lang: 'auto', page: location.pathname.slice(0, 1000), fold_acks: true };
      if (token) { hello.token = token; hello.last_seq = lastSeq; }
      ws.send(JSON.stringify(hello));
    };
    ws.onmessage = function (e) {
      var f;
      try { f = JSON.parse(e.data); } catch (x) { return; }
      onFrame(f);
    };
    ws.onclose = function () { ws = null; ready = false; retry(); };
    ws.onerror = function () { /* onclose follows */ };
  }
  // Exponential backoff with full jitter: 0.5 s, 1 s, 2 s … capped at 30 s, each times a
  // random factor in [0.5, 1), so a restarted server is not hit by every widget at once.
  function retry() {
    if (timer) return;
    var delay = Math.min(30000, 500 * Math.pow(2, attempts)) * (0.5 + Math.random() / 2);
    attempts++;
    setStatus(T.reconnecting, 'warn');
    root.classList.add('reconnecting');
    timer = setTimeout(function () { timer = null; connect(); }, delay);
  }
  function send(obj) {
    obj.v = 1;
    if (ready && ws && ws.readyState === 1) ws.send(JSON.stringify(obj));
    // Messages and choices are in the history and resent from there after welcome; other
    // frames with an id wait in the outbox. The server dedupes a resent id.
    else if (obj.id && obj.type !== 'message' && obj.type !== 'choose') outbox.push(obj);
    if (!ws) connect();
  }
  function newId(p) { return p + idBase + (nextId++); }

  /* ---- rendering ---- */
  function scroll() { list.scrollTop = list.scrollHeight; }
  function bubble(who, name) {
    var row = el('div', 'msg ' + who);
    if (name) row.appendChild(el('div', 'who', name));
    list.appendChild(row);
    return row;
  }
  function render(h) {
    var f = h.f, row, box;
    if (h.local) { // the visitor's own message (sent or replayed)
      row = bubble('visitor');
      row.appendChild(el('div', 'text', h.text));
      row.dataset.id = h.id || '';
      if (h.seq) row.dataset.seq = h.seq;
      else row.classList.add('pending');
      h.node = row;
      return;
    }
    switch (f.type) {
      case 'answer':
      case 'reply':
      case 'fallback':
      case 'bot_back':
      case 'closed':
      case 'ticket':
        row = bubble('bot');
        row.appendChild(markdown(f.text));
        if (f.type === 'answer') {
          if (f.prompts && f.prompts.length) row.appendChild(choices(f.prompts));
          if (!h.unsaved) row.appendChild(feedback(h)); // feedback names a stored seq
        }
        if (f.type === 'bot_back') { sub.textContent = ''; queueBar.hidden = true; }
        break;
      case 'clarify':
        row = bubble('bot');
        row.appendChild(markdown(f.text));
        row.appendChild(choices(f.options || []));
        break;
      case 'handoff':
        row = bubble('bot');
        row.appendChild(markdown(f.text));
        if (f.queue) showQueue(f.queue.position, f.queue.wait_s);
        if (f.leave_message || f.available === false) row.appendChild(leaveForm(h));
        break;
      case 'agent_joined':
        row = el('div', 'sys', fmt(T.joined, { a: f.agent || T.agent }));
        list.appendChild(row);
        sub.textContent = f.agent || '';
        queueBar.hidden = true;
        break;
      case 'agent_message':
        row = bubble('agent', f.agent || T.agent);
        row.appendChild(markdown(f.text));
        break;
      case 'survey':
        row = bubble('bot');
        row.appendChild(surveyForm(h));
        sub.textContent = '';
        break;
      default:
        return;
    }
    if (h.unsaved) row.dataset.unsaved = '1';
    else row.dataset.seq = h.seq;
    row.dataset.type = f.type;
    if (f.entry) row.dataset.entry = f.entry;
    h.node = row;
  }
  function choices(opts) {
    var box = el('div', 'choices');
    box.setAttribute('role', 'group');
    box.setAttribute('aria-label', T.choose);
    opts.forEach(function (o) {
      optionText[o.entry] = o.text;
      var b = el('button', 'choice', o.text);
      b.type = 'button';
      b.addEventListener('click', function () {
        var id = newId('c');
        addLocal(o.text, id, o.entry);
        send({ type: 'choose', id: id, entry: o.entry });
      });
      box.appendChild(b);
    });
    return box;
  }
  function feedback(h) {
    var box = el('div', 'feedback');
    if (h.fb !== undefined) { box.textContent = T.thanks; return box; }
    box.appendChild(el('span', null, T.helpful));
    [[T.yes, true], [T.no, false]].forEach(function (x) {
      var b = el('button', 'fb', x[0]);
      b.type = 'button';
      b.setAttribute('aria-label', T.helpful + ' ' + x[0]);
      b.addEventListener('click', function () {
        send({ type: 'feedback', id: newId('f'), seq: h.seq, helpful: x[1] });
        h.fb = x[1];
        persist();
        box.textContent = T.thanks;
      });
      box.appendChild(b);
    });
    return box;
  }
  function field(form, label, ctl) {
    var l = el('label', 'field');
    l.appendChild(el('span', null, label));
    l.appendChild(ctl);
    form.appendChild(l);
    return ctl;
  }
  function leaveForm(h) {
    var f = el('form', 'leave');
    if (h.done) { f.appendChild(el('p', null, T.thanks)); return f; }
    f.appendChild(el('strong', null, T.lmTitle));
    var name = field(f, T.lmName, el('input'));
    name.maxLength = 100;
    name.autocomplete = 'name';
    var contact = field(f, T.lmContact, el('input'));
    contact.required = true;
    contact.maxLength = 100;
    contact.autocomplete = 'email';
    var text = field(f, T.lmText, el('textarea'));
    text.required = true;
    text.maxLength = 2000;
    var err = el('div', 'err');
    err.setAttribute('role', 'alert');
    var b = el('button', 'primary', T.lmSend);
    b.type = 'submit';
    f.appendChild(err);
    f.appendChild(b);
    f.addEventListener('submit', function (e) {
      e.preventDefault();
      var c = contact.value.trim();
      if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(c) && !/^\+?[\d\s-]{6,24}$/.test(c)) { err.textContent = T.lmBadContact; contact.focus(); return; }
      if (!text.value.trim()) { text.focus(); return; }
      var id = newId('l');
      pendingForms[id] = { h: h, form: f, err: err };
      send({ type: 'leave_message', id: id, name: name.value.trim() || undefined, contact: c, text: text.value.trim() });
      b.disabled = true;
      err.textContent = T.sending;
    });
    return f;
  }
  function surveyForm(h) {
    var f = el('form', 'survey');
    var q = (h.f.questions || []).filter(function (x) { return x.id === 'csat'; })[0] || { text: T.survey, min: 1, max: 5 };
    if (h.done) { f.appendChild(el('p', null, T.surveyThanks)); return f; }
    var fs = el('fieldset', 'stars');
    fs.appendChild(el('legend', null, q.text || T.survey));
    var value = 0, buttons = [];
    for (var n = q.min || 1; n <= (q.max || 5); n++) {
      (function (n) {
        var b = el('button', 'star', '★');
        b.type = 'button';
        b.setAttribute('aria-label', fmt(T.star, { n: n }));
        b.setAttribute('aria-pressed', 'false');
        b.addEventListener('click', function () {
          value = n;
          buttons.forEach(function (x, i) {
            x.setAttribute('aria-pressed', String(i + 1 === n));
            x.classList.toggle('on', i < n);
          });
        });
        buttons.push(b);
        fs.appendChild(b);
      })(n);
    }
    f.appendChild(fs);
    var comment = field(f, T.surveyComment, el('textarea'));
    comment.maxLength = 1000;
    var err = el('div', 'err');
    err.setAttribute('role', 'alert');
    f.appendChild(err);
    var b = el('button', 'primary', T.surveySend);
    b.type = 'submit';
    f.appendChild(b);
    f.addEventListener('submit', function (e) {
      e.preventDefault();
      if (!value) { (buttons[buttons.length - 1] || b).focus(); return; }
      var id = newId('s');
      pendingForms[id] = { h: h, form: f, err: err, thanks: T.surveyThanks };
      send({ type: 'survey', id: id, csat: value, comment: comment.value.trim() || undefined });
      b.disabled = true;
    });
    return f;
  }
  var pendingForms = {};
  function formDone(id) {
    var p = pendingForms[id];
    if (!p) return;
    delete pendingForms[id];
    p.h.done = true;
    persist();
    while (p.form.firstChild) p.form.removeChild(p.form.firstChild);
    p.form.appendChild(el('p', null, p.thanks || T.thanks));
  }
  function showQueue(pos, wait) {
    queueBar.hidden = false;
    queueBar.textContent = pos > 0 ? fmt(T.queue, { n: Math.max(0, pos - 1), m: Math.max(1, Math.round((wait || 0) / 60)) }) : T.queueNow;
  }
  function addLocal(text, id, entry) {
    var h = { local: true, text: text, id: id, entry: entry };
    history.push(h);
    render(h);
    persist();
    scroll();
    typing.hidden = false; // the bot's answer is coming
    return h;
  }

  function onFrame(f) {
    if (f.type === 'welcome') {
      if (token && !f.resumed) { // the conversation is gone (new database): start again
        history = [];
        seen = {};
        lastSeq = 0;
        list.textContent = '';
        list.appendChild(el('div', 'sys', T.newConv));
      }
      token = f.token;
      ready = true;
      attempts = 0;
      root.classList.remove('reconnecting');
      setStatus('', 'ok');
      persist();
      var q = outbox;
      outbox = [];
      // Whatever is still unacknowledged goes again. If it was stored after all, its ack is
      // in the replay and the server answers the resend with the same seq ("duplicate"),
      // which is then ignored as seen.
      history.forEach(function (h) {
        if (h.local && !h.seq && h.id) ws.send(JSON.stringify(h.entry ? { v: 1, type: 'choose', id: h.id, entry: h.entry } : { v: 1, type: 'message', id: h.id, text: h.text }));
      });
      q.forEach(function (o) { ws.send(JSON.stringify(o)); });
      return;
    }
    if (f.type === 'error') {
      if (f.code === 'rate_limited' && f.id) {
        var again = history.filter(function (x) { return x.id === f.id && x.local; })[0];
        if (again) setTimeout(function () { send({ type: 'message', id: f.id, text: again.text }); }, f.retry_after_ms || 1000);
        return;
      }
      if (f.id && pendingForms[f.id]) {
        pendingForms[f.id].err.textContent = f.code === 'bad_contact' ? T.lmBadContact : fmt(T.error, { m: f.message || f.code });
        pendingForms[f.id].form.querySelector('button[type=submit]').disabled = false;
        delete pendingForms[f.id];
        return;
      }
      list.appendChild(el('div', 'sys err', fmt(T.error, { m: f.message || f.code })));
      typing.hidden = true;
      scroll();
      return;
    }
    if (f.type === 'queue') { showQueue(f.position, f.wait_s); return; }
    if (f.type === 'typing') { typing.hidden = !f.active; return; }
    if (f.unsaved) { // not stored (disk full): shown, never kept, the cursor stays (docs/protocol.md)
      typing.hidden = true;
      render({ f: f, unsaved: true });
      scroll();
      if (panel.hidden) { unread.hidden = false; unread.textContent = '•'; }
      return;
    }
    if (typeof f.seq !== 'number' || f.seq <= 0) return;
    if (seen[f.seq]) return; // shown already (a replay after a reconnect or a reload)
    seen[f.seq] = true;
    if (f.seq > lastSeq) lastSeq = f.seq;
    if (f.type === 'ack') {
      var mine = f.id && history.filter(function (x) { return x.local && x.id === f.id; })[0];
      if (mine) {
        mine.seq = f.seq;
        if (mine.node) { mine.node.classList.remove('pending'); mine.node.dataset.seq = f.seq; }
      } else if (f.of === 'message' && f.text) {
        var h = { local: true, text: f.text, id: f.id, seq: f.seq };
        history.push(h);
        render(h);
      } else if (f.of === 'choose' && f.entry && f.replay) {
        var c = { local: true, text: optionText[f.entry] || f.entry, id: f.id, seq: f.seq };
        history.push(c);
        render(c);
      }
      if (f.of === 'survey' || f.of === 'leave_message') formDone(f.id);
      persist();
      scroll();
      return;
    }
    // A folded ack: this reply carries the id of the message it answers, whose seq is reply_to.
    if (f.id && typeof f.reply_to === 'number' && !f.replay) {
      var asked = history.filter(function (x) { return x.local && x.id === f.id && !x.seq; })[0];
      if (asked) {
        asked.seq = f.reply_to;
        seen[f.reply_to] = true;
        if (asked.node) { asked.node.classList.remove('pending'); asked.node.dataset.seq = f.reply_to; }
      }
      delete f.id;
    }
    typing.hidden = true;
    var replayed = f.replay;
    delete f.replay;
    var item = { seq: f.seq, f: f };
    history.push(item);
    render(item);
    persist();
    scroll();
    if (panel.hidden && !replayed) { unread.hidden = false; unread.textContent = '•'; }
  }

  /* ---- interaction ---- */
  function open() {
    panel.hidden = false;
    launcher.setAttribute('aria-expanded', 'true');
    root.classList.add('open');
    unread.hidden = true;
    save('open', true);
    connect();
    scroll();
    input.focus();
  }
  function close() {
    panel.hidden = true;
    launcher.setAttribute('aria-expanded', 'false');
    root.classList.remove('open');
    save('open', false);
    launcher.focus();
  }
  launcher.addEventListener('click', function () { if (panel.hidden) open(); else close(); });
  closeBtn.addEventListener('click', close);
  panel.addEventListener('keydown', function (e) { if (e.key === 'Escape') close(); });
  var typingSent = false, typingTimer = null;
  function sendTyping(active) {
    if (typingSent === active || !ready) return;
    typingSent = active;
    send({ type: 'typing', active: active });
  }
  input.addEventListener('input', function () {
    sendTyping(!!input.value.trim());
    clearTimeout(typingTimer);
    typingTimer = setTimeout(function () { sendTyping(false); }, 4000);
  });
  input.addEventListener('keydown', function (e) {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); form.requestSubmit(); }
  });
  form.addEventListener('submit', function (e) {
    e.preventDefault();
    var text = input.value.trim();
    if (!text) return;
    input.value = '';
    sendTyping(false);
    var id = newId('m');
    addLocal(text, id);
    send({ type: 'message', id: id, text: text });
  });

  history.forEach(render);
  if (load('open', false)) open();
  else if (token) connect(); // resume quietly: agent messages and replies arrive while closed
})();
