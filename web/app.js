// Placeholder page for the chat server (the real widget is a later issue): connects to /ws
// with the visitor subprotocol, shows frames as text (never as HTML), and sends messages.
'use strict';
(function () {
  const log = document.getElementById('log');
  const status = document.getElementById('status');
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const ws = new WebSocket(proto + '//' + location.host + '/ws', 'kefu.visitor.v1');
  let n = 0;
  function show(who, text) {
    const li = document.createElement('li');
    li.textContent = who + ': ' + text;
    log.appendChild(li);
  }
  ws.onopen = function () {
    status.textContent = 'connected';
    ws.send(JSON.stringify({ v: 1, type: 'hello', token: localStorage.getItem('kefu.token') || undefined }));
  };
  ws.onclose = function (e) { status.textContent = 'closed (' + e.code + ' ' + e.reason + ')'; };
  ws.onmessage = function (e) {
    const f = JSON.parse(e.data);
    if (f.type === 'welcome') localStorage.setItem('kefu.token', f.token);
    else if (f.type === 'clarify') show('bot', f.text + ' ' + f.options.map(function (o) { return o.text; }).join(' / '));
    else if (f.text && f.type !== 'ack') show('bot', f.text);
    else if (f.type === 'error') show('error', f.code + ': ' + f.message);
  };
  document.getElementById('ask').addEventListener('submit', function (e) {
    e.preventDefault();
    const input = document.getElementById('text');
    if (!input.value) return;
    show('me', input.value);
    ws.send(JSON.stringify({ v: 1, type: 'message', id: 'm' + (++n), text: input.value }));
    input.value = '';
  });
})();
