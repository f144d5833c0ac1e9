// Every bad input gets its error frame (or a refused handshake) and the server keeps serving.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { withServer, Client, MULT } from './helper.mjs';

const SETS = ['rate_per_conn=1000', 'burst_per_conn=1000', 'max_frame=1024'];

async function expectError(c, code, id) {
  const f = await c.next('error');
  assert.equal(f.code, code, JSON.stringify(f));
  assert.equal(f.v, 1);
  assert.equal(typeof f.message, 'string');
  assert.ok(f.message.length > 0);
  assert.equal(typeof f.seq, 'number');
  if (id !== undefined) assert.equal(f.id, id);
  return f;
}

test('malformed frames get error frames and the connection keeps working', () => withServer({ set: SETS }, async (s) => {
  const c = await s.connect();
  c.sendRaw('{not json');
  await expectError(c, 'bad_json');
  c.sendRaw('[1,2,3]');
  await expectError(c, 'bad_json');
  c.sendRaw('');
  await expectError(c, 'bad_json');
  c.sendRaw('{"type":"hello","type":"hello"}');
  await expectError(c, 'bad_json');
  c.send({ type: 'message', text: 'hi', id: 'early' });
  await expectError(c, 'out_of_order', 'early');
  c.send({ type: 'dance', id: 'd1' });
  await expectError(c, 'unknown_type', 'd1');
  c.sendRaw('{"id":"nt"}');
  await expectError(c, 'missing_field', 'nt');
  c.sendRaw('{"v":2,"type":"hello"}');
  await expectError(c, 'unsupported_version');
  c.send({ type: 'hello', lang: 'fr' });
  await expectError(c, 'bad_field');
  c.send({ type: 'hello', last_seq: -1 });
  await expectError(c, 'bad_field');
  c.sendRaw(Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d])); // {"\xff\xfe"} as a text frame
  await expectError(c, 'bad_utf8');
  c.sendRaw(Buffer.from([1, 2, 3]), { binary: true });
  await expectError(c, 'binary_frame');
  c.send({ type: 'hello' });
  await c.next('welcome');
  c.send({ type: 'hello' });
  await expectError(c, 'out_of_order');
  c.send({ type: 'message', id: 'nt2' });
  await expectError(c, 'missing_field', 'nt2');
  c.send({ type: 'message', text: 42, id: 'bt' });
  await expectError(c, 'bad_field', 'bt');
  c.send({ type: 'message', text: '   ', id: 'em' });
  await expectError(c, 'empty_message', 'em');
  c.send({ type: 'message', text: 'a\u0000b', id: 'nul' });
  await expectError(c, 'bad_json');
  c.send({ type: 'feedback', helpful: true, id: 'fbx' });
  await expectError(c, 'missing_field', 'fbx');
  c.send({ type: 'feedback', seq: 1, helpful: 'yes', id: 'fby' });
  await expectError(c, 'bad_field', 'fby');
  c.send({ type: 'choose', id: 'chx' });
  await expectError(c, 'missing_field', 'chx');
  // still alive and answering
  const { reply } = await c.ask('我想退货', 'ok1');
  assert.equal(reply.type, 'answer');
  assert.equal(c.closed, null);
  const metrics = await (await fetch(`${s.url}/metrics`)).text();
  assert.match(metrics, /^kefu_errors_total\{code="bad_json"\} 5$/m);
  assert.match(metrics, /^kefu_errors_total\{code="bad_utf8"\} 1$/m);
  c.close();
}));

test('a fragmented message is reassembled', () => withServer({ set: SETS }, async (s) => {
  const [c] = await s.visitor();
  const text = JSON.stringify({ v: 1, type: 'message', text: '我想退货', id: 'frag' });
  const buf = Buffer.from(text);
  c.ws.send(buf.subarray(0, 5), { fin: false, binary: false });
  c.ws.send(buf.subarray(5, 20), { fin: false, binary: false });
  c.ws.send(buf.subarray(20), { fin: true, binary: false });
  const ack = await c.next('ack');
  assert.equal(ack.id, 'frag');
  assert.equal((await c.next('answer')).entry, 'return-policy');
  c.close();
}));

test('an oversized frame gets too_large then close 1009; others are unaffected', () => withServer({ set: SETS }, async (s) => {
  const [other] = await s.visitor();
  const [c] = await s.visitor();
  c.send({ type: 'message', text: 'x'.repeat(2000), id: 'big' });
  await expectError(c, 'too_large');
  const closed = await c.waitClose();
  assert.equal(closed.code, 1009);
  assert.match(closed.reason, /larger than 1024/);
  // the same limit split into fragments
  const [d] = await s.visitor();
  const chunk = Buffer.from('x'.repeat(600));
  d.ws.send(Buffer.from('{"type":"message","text":"'), { fin: false, binary: false });
  d.ws.send(chunk, { fin: false, binary: false });
  d.ws.send(chunk, { fin: false, binary: false });
  d.ws.send(Buffer.from('"}'), { fin: true, binary: false });
  await expectError(d, 'too_large');
  assert.equal((await d.waitClose()).code, 1009);
  const { reply } = await other.ask('我想退货', 'o1');
  assert.equal(reply.type, 'answer');
  other.close();
}));

// event_loop = poll: lws's own loop, the other choice (the default, ev, runs every other test)
test('on lws\'s own poll() loop: an answer, a close frame with its code, /healthz', () => withServer({
  set: [...SETS, 'event_loop=poll'],
}, async (s) => {
  const [c] = await s.visitor();
  const { reply } = await c.ask('我想退货', 'p1');
  assert.equal(reply.type, 'answer');
  c.send({ type: 'message', text: 'x'.repeat(2000), id: 'big' });
  await expectError(c, 'too_large');
  assert.equal((await c.waitClose()).code, 1009);
  const h = await fetch(`${s.url}/healthz`);
  assert.equal(h.status, 200);
}));

async function refused(url, protocol, headers = {}) {
  const ws = protocol === null ? new WebSocket(url, { headers }) : new WebSocket(url, protocol, { headers });
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('handshake neither refused nor accepted')), 5000 * MULT);
    ws.on('open', () => { clearTimeout(t); ws.close(); reject(new Error('handshake accepted')); });
    ws.on('unexpected-response', (req, res) => { clearTimeout(t); req.destroy(); resolve(`HTTP ${res.statusCode}`); });
    ws.on('error', (e) => { clearTimeout(t); resolve(e.message); });
  });
}

test('wrong subprotocol, no subprotocol and wrong path are refused; the server keeps serving', () => withServer({ set: SETS }, async (s) => {
  const r = [await refused(s.wsUrl, 'kefu.agent.v0'), await refused(s.wsUrl, null),
    await refused(s.wsUrl.replace(/\/ws$/, '/other'), 'kefu.visitor.v1')];
  assert.deepEqual(r, ['HTTP 400', 'HTTP 400', 'HTTP 404']);
  const [c] = await s.visitor();
  assert.equal((await c.ask('我想退货', 'a')).reply.type, 'answer');
  c.close();
}));

test('a disallowed Origin is refused at the handshake; an allowed one is served', () => withServer({
  set: [...SETS, 'allowed_origins=https://shop.example, https://www.shop.example'],
}, async (s) => {
  assert.match(await refused(s.wsUrl, 'kefu.visitor.v1', { Origin: 'https://evil.example' }), /^HTTP 403$/);
  assert.equal(await refused(s.wsUrl, 'kefu.visitor.v1'), 'HTTP 403'); // no Origin at all
  const [c] = await s.visitor({}, { origin: 'https://www.shop.example' });
  assert.equal((await c.ask('我想退货', 'a')).reply.type, 'answer');
  const metrics = await (await fetch(`${s.url}/metrics`)).text();
  assert.match(metrics, /^kefu_connections_rejected_total 2$/m);
  c.close();
}));
