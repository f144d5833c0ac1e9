// Every limit answers with an error frame that says what happened, and loses nothing: a
// rate-limited message is not acknowledged (the client resends it later).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withServer, sleep } from './helper.mjs';

test('messages per connection: token bucket, rate_limited with retry_after_ms, then allowed again', () => withServer({
  set: ['rate_per_conn=5', 'burst_per_conn=3', 'rate_per_addr=1000', 'burst_per_addr=1000'],
}, async (s) => {
  const [c] = await s.visitor(); // hello takes a token too
  for (let i = 0; i < 2; i++) await c.ask('我想退货', `ok${i}`);
  c.send({ type: 'message', text: '我想退货', id: 'over' });
  const e = await c.next('error');
  assert.equal(e.code, 'rate_limited');
  assert.equal(e.id, 'over');
  assert.ok(e.retry_after_ms > 0 && e.retry_after_ms <= 200, JSON.stringify(e));
  assert.equal(s.sql("SELECT count(*) FROM messages WHERE client_id = 'over'").trim(), '0');
  await sleep(e.retry_after_ms + 20);
  const again = await c.ask('我想退货', 'over');
  assert.equal(again.reply.type, 'answer');
  c.close();
}));

test('messages per address: shared by all connections of one address', () => withServer({
  set: ['rate_per_conn=1000', 'burst_per_conn=1000', 'rate_per_addr=1', 'burst_per_addr=4'],
}, async (s) => {
  const [a] = await s.visitor();
  const [b] = await s.visitor();
  await a.ask('我想退货', 'a1');
  await b.ask('我想退货', 'b1');
  b.send({ type: 'message', text: '我想退货', id: 'b2' });
  const e = await b.next('error');
  assert.equal(e.code, 'rate_limited');
  assert.match(e.message, /address/);
  a.close();
  b.close();
}));

test('connections per address: the extra one gets an error frame and close 1008', () => withServer({
  set: ['max_conns_per_addr=2'],
}, async (s) => {
  const a = await s.connect();
  const b = await s.connect();
  const c = await s.connect();
  const e = await c.next('error');
  assert.equal(e.code, 'too_many_connections');
  const closed = await c.waitClose();
  assert.equal(closed.code, 1008);
  // the first two still work, and a slot frees when one leaves
  a.send({ type: 'hello' });
  await a.next('welcome');
  b.close();
  await b.waitClose();
  await sleep(50);
  const d = await s.connect();
  d.send({ type: 'hello' });
  await d.next('welcome');
  a.close();
  d.close();
}));

test('X-Forwarded-For is believed only from trusted proxies', () => withServer({
  set: ['max_conns_per_addr=1', 'trusted_proxies=127.0.0.1 ::ffff:127.0.0.1'],
}, async (s) => {
  // through the trusted proxy, two different clients: both allowed
  const a = await s.connect({ headers: { 'X-Forwarded-For': '203.0.113.7' } });
  const b = await s.connect({ headers: { 'X-Forwarded-For': '198.51.100.1, 203.0.113.8' } });
  a.send({ type: 'hello' });
  b.send({ type: 'hello' });
  await a.next('welcome');
  await b.next('welcome');
  // the same client twice: refused
  const c = await s.connect({ headers: { 'X-Forwarded-For': '203.0.113.7' } });
  assert.equal((await c.next('error')).code, 'too_many_connections');
  await s.waitLog(/event=open addr=203\.0\.113\.8/);
  a.close();
  b.close();
}));

test('X-Forwarded-For from an untrusted peer is ignored', () => withServer({
  set: ['max_conns_per_addr=1'],
}, async (s) => {
  const a = await s.connect({ headers: { 'X-Forwarded-For': '203.0.113.7' } });
  const b = await s.connect({ headers: { 'X-Forwarded-For': '203.0.113.9' } });
  assert.equal((await b.next('error')).code, 'too_many_connections');
  a.close();
}));

test('a client that sends faster than it reads is slowed down, not dropped; nothing is lost', () => withServer({
  set: ['max_queue=8', 'rate_per_conn=100000', 'burst_per_conn=100000', 'rate_per_addr=100000', 'burst_per_addr=100000'],
}, async (s) => {
  const [other] = await s.visitor();
  const [c] = await s.visitor();
  c.ws._socket.pause(); // stop reading while sending a flood
  const N = 3000;
  const pad = 'x'.repeat(900);
  for (let i = 0; i < N; i++) c.send({ type: 'nope', id: `n${i}`, pad });
  await sleep(300);
  // the others are served meanwhile
  const { reply } = await other.ask('我想退货', 'o');
  assert.equal(reply.type, 'answer');
  c.ws._socket.resume();
  const ids = [];
  while (ids.length < N) ids.push((await c.next('error', 20000)).id);
  assert.deepEqual(ids, Array.from({ length: N }, (_, i) => `n${i}`));
  assert.equal(c.closed, null);
  const metrics = await (await fetch(`${s.url}/metrics`)).text();
  assert.match(metrics, /^kefu_errors_total\{code="unknown_type"\} 3000$/m);
  other.close();
  c.close();
}));
