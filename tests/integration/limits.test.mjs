// Every limit answers with an error frame that says what happened, and loses nothing: a
// rate-limited message is not acknowledged (the client resends it later).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
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

// The kernel's view of the server's sockets (/proc/net/tcp and tcp6): local address, state and
// timer of each socket on the server's port.
function socketsOf(port) {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  const rows = [];
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(f, 'utf8').split('\n').slice(1)) {
      const c = line.trim().split(/\s+/);
      if (c.length < 6 || !c[1].endsWith(`:${hex}`)) continue;
      rows.push({ file: f, local: c[1].split(':')[0], state: c[3], timer: c[5].split(':')[0] });
    }
  }
  return rows;
}

test('listen = 127.0.0.1:PORT listens on that address only; connections get TCP keepalive', () => withServer({}, async (s) => {
  const port = Number(new URL(s.url).port);
  const [c] = await s.visitor();
  const rows = socketsOf(port);
  const listening = rows.filter((r) => r.state === '0A');
  // one IPv4 socket on 127.0.0.1 (0100007F), not the IPv6 socket on every address it was
  assert.deepEqual(listening.map((r) => [r.file, r.local]), [['/proc/net/tcp', '0100007F']]);
  // the accepted connection has its keepalive timer running (timer 02): dead peers are found
  // by TCP keepalive, as lws's validity pings are off
  // (once the welcome is acknowledged: until then the retransmission timer, 01, runs)
  let accepted = [];
  for (let i = 0; i < 100; i++) {
    accepted = socketsOf(port).filter((r) => r.state === '01');
    if (accepted.length === 1 && accepted[0].timer !== '01') break;
    await sleep(20);
  }
  assert.equal(accepted.length, 1, JSON.stringify(accepted));
  assert.equal(accepted[0].timer, '02', JSON.stringify(accepted));
  c.close();
}));
