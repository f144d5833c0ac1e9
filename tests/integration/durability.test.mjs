// Conversations survive reconnects, restarts and kill -9: what was acknowledged is in the
// database, and a resuming client gets exactly the frames it missed, in order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withServer } from './helper.mjs';

const SETS = ['rate_per_conn=1000', 'burst_per_conn=1000', 'rate_per_addr=1000', 'burst_per_addr=1000'];

test('resume after reconnect replays the missed frames in order', () => withServer({ set: SETS }, async (s) => {
  const [c, w] = await s.visitor({ lang: 'zh' });
  const a = await c.ask('我想退货', 'm1');
  c.close();
  await c.waitClose();
  // the visitor saw up to a.reply.seq; two more exchanges happen on another tab
  const [c2, w2] = await s.visitor({ token: w.token, last_seq: a.reply.seq });
  assert.equal(w2.resumed, true);
  assert.equal(w2.token, w.token);
  assert.equal(w2.seq, a.reply.seq);
  const b = await c2.ask('退款多久到账', 'm2');
  const d = await c2.ask('今天天气怎么样', 'm3');
  c2.close();
  // resume from the first answer: everything after it, each frame once, in seq order
  const [c3, w3] = await s.visitor({ token: w.token, last_seq: a.reply.seq });
  assert.equal(w3.seq, d.reply.seq);
  const got = [];
  while (got.length < 4) got.push(await c3.next());
  assert.deepEqual(got.map((f) => f.seq), [b.ack.seq, b.reply.seq, d.ack.seq, d.reply.seq]);
  assert.ok(got.every((f) => f.replay === true));
  assert.equal(got[0].type, 'ack');
  assert.equal(got[0].text, '退款多久到账');
  assert.equal(got[0].id, 'm2');
  const { replay: _r, ...answer } = got[1];
  assert.deepEqual(answer, b.reply);
  assert.equal(got[3].type, 'fallback');
  // live frames continue after the replay
  const e = await c3.ask('我想退货', 'm4');
  assert.equal(e.ack.seq, d.reply.seq + 1);
  c3.close();
}));

test('an unknown or malformed token starts a new conversation', () => withServer({ set: SETS }, async (s) => {
  const [c, w] = await s.visitor({ token: 'f'.repeat(32) });
  assert.equal(w.resumed, false);
  assert.notEqual(w.token, 'f'.repeat(32));
  const [c2, w2] = await s.visitor({ token: 'not-a-token' });
  assert.equal(w2.resumed, false);
  c.close();
  c2.close();
}));

test('server restart: the conversation resumes from the database', () => withServer({ set: SETS }, async (s) => {
  const [c, w] = await s.visitor();
  const a = await c.ask('我想退货', 'm1');
  const b = await c.ask('退款多久到账', 'm2');
  const { code } = await s.stop();
  assert.equal(code, 0);
  await c.waitClose();
  assert.equal(c.closed.code, 1001);
  await s.start();
  const [c2, w2] = await s.visitor({ token: w.token, last_seq: a.reply.seq });
  assert.equal(w2.resumed, true);
  assert.equal(w2.seq, b.reply.seq);
  const f1 = await c2.next();
  const f2 = await c2.next();
  assert.deepEqual([f1.seq, f2.seq], [b.ack.seq, b.reply.seq]);
  assert.equal(f2.entry, 'refund-time');
  // and the whole history when no last_seq is given
  const [c3] = await s.visitor({ token: w.token });
  const all = [];
  while (all.length < 4) all.push(await c3.next());
  assert.deepEqual(all.map((f) => f.seq), [1, 2, 3, 4]);
  c2.close();
  c3.close();
}));

test('kill -9 right after an ack: the message is in the database after restart', () => withServer({ set: SETS }, async (s) => {
  const [c, w] = await s.visitor();
  c.send({ type: 'message', text: '钱多久能退回来', id: 'precious' });
  const ack = await c.next('ack');
  await s.kill9();
  const rows = s.sql(`SELECT m.seq, m.dir, m.text FROM messages m JOIN conversations c ON c.id = m.conv_id WHERE c.token = '${w.token}' AND m.client_id = 'precious'`);
  assert.equal(rows.trim(), `${ack.seq}|in|钱多久能退回来`);
  await s.start();
  const [c2, w2] = await s.visitor({ token: w.token, last_seq: 0 });
  assert.equal(w2.resumed, true);
  const echo = await c2.next((f) => f.seq === ack.seq);
  assert.equal(echo.text, '钱多久能退回来');
  c2.close();
}));
