// Every frame type of the visitor protocol (docs/protocol.md) against the real server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { withServer, tmpKnowledge } from './helper.mjs';

const SETS = ['shop_name=测试商城', 'var.phone=400-123-4567', 'rate_per_conn=1000', 'burst_per_conn=1000'];

test('hello → welcome with a fresh token, seq 0', () => withServer({ set: SETS }, async (s) => {
  const [c, w] = await s.visitor({ lang: 'zh', page: '/product/1' });
  assert.deepEqual(Object.keys(w).sort(), ['lang', 'resumed', 'seq', 'token', 'type', 'v']);
  assert.equal(w.v, 1);
  assert.equal(w.seq, 0);
  assert.equal(w.resumed, false);
  assert.match(w.token, /^[0-9a-f]{32}$/);
  c.close();
}));

test('message → ack then answer, with {{vars}} substituted and prompts', () => withServer({ set: SETS }, async (s) => {
  const [c] = await s.visitor();
  const { ack, reply } = await c.ask('我想退货', 'm1');
  assert.deepEqual(ack, { v: 1, type: 'ack', seq: 1, of: 'message', id: 'm1' });
  assert.equal(reply.type, 'answer');
  assert.equal(reply.seq, 2);
  assert.equal(reply.reply_to, 1);
  assert.equal(reply.entry, 'return-policy');
  assert.equal(reply.lang, 'zh');
  assert.equal(reply.text, '收到商品 7 天内可以无理由退货。请联系测试商城客服：400-123-4567。');
  assert.deepEqual(reply.prompts, [{ entry: 'refund-time', text: '退款多久到账' }]);
  assert.equal(typeof reply.confidence, 'number');
  c.close();
}));

test('English question → English answer', () => withServer({ set: SETS }, async (s) => {
  const [c] = await s.visitor({ lang: 'en' });
  const { reply } = await c.ask('I want to return something', 'e1');
  assert.equal(reply.type, 'answer');
  assert.equal(reply.entry, 'return-policy');
  assert.equal(reply.lang, 'en');
  assert.equal(reply.text, 'You can return any item within 7 days. Call 400-123-4567.');
  c.close();
}));

// The protocol, not the matcher, is under test: answer_min puts the one-word question
// (refund-time about 0.9, refund-progress about 0.05 on this fixture) in the clarify band.
const CLARIFY = ['answer_min=0.97', 'clarify_min=0.05'];

test('clarify → choose → answer of the chosen entry', () => withServer({ set: [...SETS, ...CLARIFY] }, async (s) => {
  const [c] = await s.visitor({ lang: 'zh' });
  const { reply } = await c.ask('退款', 'q1');
  assert.equal(reply.type, 'clarify');
  assert.ok(reply.options.length >= 2 && reply.options.length <= 3, JSON.stringify(reply));
  const ids = reply.options.map((o) => o.entry).sort();
  assert.ok(ids.includes('refund-time') && ids.includes('refund-progress'), JSON.stringify(ids));
  for (const o of reply.options) assert.equal(typeof o.text, 'string');
  c.send({ type: 'choose', entry: 'refund-progress', id: 'ch1' });
  const ack = await c.next('ack');
  assert.deepEqual(ack, { v: 1, type: 'ack', seq: reply.seq + 1, of: 'choose', id: 'ch1' });
  const ans = await c.next('answer');
  assert.equal(ans.entry, 'refund-progress');
  assert.equal(ans.reply_to, ack.seq);
  assert.equal(ans.seq, ack.seq + 1);
  c.send({ type: 'choose', entry: 'no-such-entry', id: 'ch2' });
  const err = await c.next('error');
  assert.equal(err.code, 'unknown_entry');
  assert.equal(err.id, 'ch2');
  c.close();
}));

test('fallback once, then handoff to a human', () => withServer({ set: SETS }, async (s) => {
  const [c] = await s.visitor({ lang: 'zh' });
  const first = await c.ask('今天天气怎么样', 'f1');
  assert.equal(first.reply.type, 'fallback');
  assert.equal(typeof first.reply.text, 'string');
  const second = await c.ask('明天会下雨吗', 'f2');
  assert.equal(second.reply.type, 'handoff');
  assert.equal(second.reply.reason, 'not_understood');
  c.close();
}));

test('rule reply and rule handoffs (asked, complaint with priority)', () => withServer({ set: SETS }, async (s) => {
  const [c] = await s.visitor({ lang: 'zh' });
  const hi = await c.ask('你好', 'r1');
  assert.equal(hi.reply.type, 'reply');
  assert.equal(hi.reply.rule, 'greeting');
  assert.equal(hi.reply.text, '您好！请问有什么可以帮您？');
  const human = await c.ask('我要转人工', 'r2');
  assert.equal(human.reply.type, 'handoff');
  assert.equal(human.reply.reason, 'asked');
  assert.equal(human.reply.urgent, false);
  // nobody is online: told so, offered to leave a message (handoff.test.mjs has the rest)
  assert.equal(human.reply.available, false);
  assert.equal(human.reply.why, 'offline');
  assert.equal(human.reply.leave_message, true);
  // a queued conversation is the agents' now: a second conversation for the complaint
  const [c2] = await s.visitor({ lang: 'zh' });
  const angry = await c2.ask('我要投诉你们', 'r3');
  assert.equal(angry.reply.type, 'handoff');
  assert.equal(angry.reply.reason, 'complaint');
  assert.equal(angry.reply.urgent, true);
  c.close();
  c2.close();
}));

test('feedback by seq and by entry is acknowledged and stored; typing is accepted silently', () => withServer({ set: SETS }, async (s) => {
  const [c] = await s.visitor();
  const { reply } = await c.ask('我想退货', 'm1');
  c.send({ type: 'typing', active: true });
  c.send({ type: 'feedback', seq: reply.seq, helpful: true, id: 'fb1' });
  const ack = await c.next('ack');
  assert.deepEqual(ack, { v: 1, type: 'ack', seq: reply.seq + 1, of: 'feedback', id: 'fb1' });
  c.send({ type: 'feedback', entry: 'refund-time', helpful: false, id: 'fb2' });
  const ack2 = await c.next('ack');
  assert.equal(ack2.seq, ack.seq + 1);
  c.send({ type: 'feedback', seq: 999, helpful: true, id: 'fb3' });
  const err = await c.next('error');
  assert.equal(err.code, 'unknown_seq');
  assert.equal(c.frames.length, 0, `typing must not answer: ${JSON.stringify(c.frames)}`);
  const rows = s.sql('SELECT ref_seq, entry, helpful FROM feedback ORDER BY id').trim();
  assert.equal(rows, `${reply.seq}|return-policy|1\n|refund-time|0`);
  c.close();
}));

test('fold_acks: a reply sent at once carries its message\'s id in place of an ack; other frames keep theirs; a replay sends both', () => withServer({ set: SETS }, async (s) => {
  const [c, w] = await s.visitor({ lang: 'zh', fold_acks: true });
  assert.equal(w.fold_acks, true);
  const noAck = () => assert.deepEqual(c.frames.filter((f) => f.type === 'ack'), []);
  c.send({ type: 'message', text: '我想退货', id: 'm1' });
  const a = await c.next(); // the very next frame: no ack before it
  assert.equal(a.type, 'answer');
  assert.deepEqual([a.seq, a.reply_to, a.id, a.entry], [2, 1, 'm1', 'return-policy']);
  c.send({ type: 'choose', entry: 'refund-progress', id: 'ch1' });
  const b = await c.next();
  assert.deepEqual([b.type, b.seq, b.reply_to, b.id, b.entry], ['answer', 4, 3, 'ch1', 'refund-progress']);
  c.send({ type: 'message', text: '我要转人工', id: 'm2' });
  const h = await c.next();
  assert.deepEqual([h.type, h.seq, h.reply_to, h.id, h.reason], ['handoff', 6, 5, 'm2', 'asked']);
  noAck();
  // queued for a person: the bot does not reply, so the message gets its ack
  c.send({ type: 'message', text: '人呢', id: 'm3' });
  assert.deepEqual(await c.next('ack'), { v: 1, type: 'ack', seq: 7, of: 'message', id: 'm3' });
  // a resend, feedback: acks as without fold_acks
  c.send({ type: 'message', text: '我想退货', id: 'm1' });
  assert.deepEqual(await c.next('ack'), { v: 1, type: 'ack', seq: 1, of: 'message', id: 'm1', duplicate: 1 });
  c.send({ type: 'feedback', id: 'f1', seq: 2, helpful: true });
  assert.deepEqual(await c.next('ack'), { v: 1, type: 'ack', seq: 8, of: 'feedback', id: 'f1' });
  assert.deepEqual(c.frames.filter((f) => f.reply_to), []); // nothing answered m3 or the resend
  // a left message: its ack, then the ticket (a form waits for that ack)
  c.send({ type: 'leave_message', id: 'l1', contact: 'a@example.com', text: '请回电' });
  assert.deepEqual(await c.next('ack'), { v: 1, type: 'ack', seq: 9, of: 'leave_message', id: 'l1' });
  const t = await c.next('ticket');
  assert.equal(t.seq, 10);
  assert.equal(t.id, undefined);
  c.close();
  assert.equal(s.sql("SELECT count(*) FROM messages WHERE dir = 'in'").trim(), '6'); // m1, ch1, m2, m3, f1, l1
  // the replay: each visitor frame as an ack carrying what was sent, each reply as stored
  const [c2, w2] = await s.visitor({ token: w.token, last_seq: 0, fold_acks: true });
  assert.equal(w2.resumed, true);
  const got = [];
  for (let i = 0; i < 10; i++) got.push(await c2.next((f) => f.replay));
  assert.deepEqual(got.map((f) => [f.seq, f.type]), [[1, 'ack'], [2, 'answer'], [3, 'ack'], [4, 'answer'],
    [5, 'ack'], [6, 'handoff'], [7, 'ack'], [8, 'ack'], [9, 'ack'], [10, 'ticket']]);
  assert.deepEqual([got[0].id, got[0].text, got[1].reply_to, got[1].id], ['m1', '我想退货', 1, undefined]);
  c2.close();
}));

test('a resent message (same id) is acknowledged again, not answered twice', () => withServer({ set: SETS }, async (s) => {
  const [c] = await s.visitor();
  const { ack } = await c.ask('我想退货', 'same');
  c.send({ type: 'message', text: '我想退货', id: 'same' });
  const again = await c.next('ack');
  assert.equal(again.seq, ack.seq);
  assert.equal(again.duplicate, 1);
  assert.equal(s.sql("SELECT count(*) FROM messages WHERE dir = 'in'").trim(), '1');
  c.close();
}));

test('a message resent after a reconnect is acknowledged again with its first seq, not answered', () => withServer({ set: SETS }, async (s) => {
  const [c, w] = await s.visitor();
  const { ack } = await c.ask('我想退货', 'r1');
  c.close();
  const [c2, w2] = await s.visitor({ token: w.token, last_seq: ack.seq + 1 });
  assert.equal(w2.resumed, true);
  c2.send({ type: 'message', text: '我想退货', id: 'r1' });
  const again = await c2.next('ack');
  assert.equal(again.seq, ack.seq);
  assert.equal(again.duplicate, 1);
  const { ack: next } = await c2.ask('发票怎么开', 'r2');
  assert.equal(next.seq, ack.seq + 2);
  assert.equal(s.sql("SELECT count(*) FROM messages WHERE dir = 'in'").trim(), '2');
  c2.close();
}));

test('frames resent with the same id are acknowledged again and stored once: feedback, a left message, a message on its connection and after a reconnect 80 rows later', () => withServer({ set: [...SETS, 'rate_per_addr=1000', 'burst_per_addr=1000'] }, async (s) => {
  const [c] = await s.visitor();
  const { reply } = await c.ask('我想退货', 'q');
  c.send({ type: 'feedback', seq: reply.seq, helpful: true, id: 'f' });
  const fb = await c.next((f) => f.type === 'ack' && f.id === 'f');
  c.send({ type: 'leave_message', contact: 'a@example.com', text: '请回电', id: 't' });
  const lm = await c.next((f) => f.type === 'ack' && f.id === 't');
  await c.next('ticket');
  for (const [id, first, of] of [['f', fb, 'feedback'], ['t', lm, 'leave_message']]) {
    c.send(of === 'feedback' ? { type: 'feedback', seq: reply.seq, helpful: true, id } : { type: 'leave_message', contact: 'a@example.com', text: '请回电', id });
    const again = await c.next((f) => f.type === 'ack' && f.id === id);
    assert.deepEqual([again.seq, again.duplicate, again.of], [first.seq, 1, of]);
  }
  // A connection remembers the ids of its last 32 frames; after a reconnect the
  // conversation's last 256 rows are looked through as well.
  const [c2, w2] = await s.visitor();
  const acks = [];
  for (let k = 0; k < 40; k++) acks.push((await c2.ask('我想退货', `n${k}`)).ack);
  c2.send({ type: 'message', text: '我想退货', id: 'n39' });
  const again = await c2.next((f) => f.type === 'ack' && f.id === 'n39');
  assert.deepEqual([again.seq, again.duplicate], [acks[39].seq, 1]);
  c2.close();
  const [c3, w3] = await s.visitor({ token: w2.token, last_seq: acks[39].seq + 1 });
  assert.equal(w3.resumed, true);
  c3.send({ type: 'message', text: '我想退货', id: 'n0' });
  const old = await c3.next((f) => f.type === 'ack' && f.id === 'n0');
  assert.deepEqual([old.seq, old.duplicate], [acks[0].seq, 1]);
  assert.equal(s.sql('SELECT count(*) FROM feedback').trim(), '1');
  assert.equal(s.sql('SELECT count(*) FROM tickets').trim(), '1');
  assert.equal(s.sql("SELECT count(*) FROM messages WHERE dir = 'in'").trim(), '43');
  c.close();
  c3.close();
}));

// The ids of a connection's last 32 frames with an id (the resend ring, ws_visitor.c RECENT):
// after 40, p8 is the oldest one remembered, p7 the newest one pushed out. Nothing else
// is looked up on a connection that did not resume, so p7 and p0 are new frames again.
test('the resend ring of one connection holds its last 32 ids: an older id is stored and answered as a new frame', () => withServer({ set: [...SETS, 'rate_per_addr=1000', 'burst_per_addr=1000'] }, async (s) => {
  const [c, w] = await s.visitor({ lang: 'zh' });
  assert.equal(w.resumed, false);
  const acks = [];
  for (let k = 0; k < 40; k++) acks.push((await c.ask('我想退货', `p${k}`)).ack);
  let last = acks[39].seq + 1; // the answer of p39
  c.send({ type: 'message', text: '我想退货', id: 'p8' });
  const dup = await c.next((f) => f.type === 'ack' && f.id === 'p8');
  assert.deepEqual(dup, { v: 1, type: 'ack', seq: acks[8].seq, of: 'message', id: 'p8', duplicate: 1 });
  const again = {};
  for (const id of ['p7', 'p0']) {
    c.send({ type: 'message', text: '我想退货', id });
    const ack = await c.next((f) => f.type === 'ack' && f.id === id);
    assert.deepEqual(ack, { v: 1, type: 'ack', seq: last + 1, of: 'message', id });
    const reply = await c.next((f) => f.reply_to === ack.seq);
    assert.deepEqual([reply.type, reply.seq, reply.entry], ['answer', last + 2, 'return-policy']);
    last = reply.seq;
    again[id] = ack.seq;
  }
  // the new p0 is the one remembered now
  c.send({ type: 'message', text: '我想退货', id: 'p0' });
  const dup0 = await c.next((f) => f.type === 'ack' && f.id === 'p0');
  assert.deepEqual([dup0.seq, dup0.duplicate], [again.p0, 1]);
  assert.deepEqual(c.frames, [], 'a duplicate is not answered');
  const rows = (q) => s.sql(q).trim().split('\n');
  assert.deepEqual(rows("SELECT client_id || ' ' || group_concat(seq, ',') FROM (SELECT client_id, seq FROM messages WHERE dir = 'in' AND client_id IN ('p0', 'p7', 'p8') ORDER BY seq) GROUP BY client_id ORDER BY client_id"),
    [`p0 ${acks[0].seq},${again.p0}`, `p7 ${acks[7].seq},${again.p7}`, `p8 ${acks[8].seq}`]);
  assert.deepEqual(rows("SELECT dir, count(*), count(DISTINCT client_id) FROM messages GROUP BY dir ORDER BY dir"),
    ['in|42|40', 'out|42|0']);
  c.close();
}));

// Disk full as in faults.test.mjs, but as a soft limit, which prlimit then lifts: the disk has
// room again. The failed frame's slot in the ring is cleared (after_store), and a resend is
// looked up in the store before being called a duplicate: it is a new frame.
const FSIZE_SOFT = ['sh', '-c', 'trap "" XFSZ; ulimit -S -f 400 && exec "$@"', 'kefu-fsize'];

test('a frame whose store failed is not remembered: resent once the disk has room, it is stored and answered once', () => withServer({ set: [...SETS, 'rate_per_addr=100000', 'burst_per_addr=100000', 'fallbacks_to_handoff=100'], wrap: FSIZE_SOFT }, async (s) => {
  const [c] = await s.visitor({ lang: 'zh' });
  let err = null;
  for (let k = 0; k < 5000 && !err; k++) {
    c.send({ type: 'message', text: '我想退货', id: `d${k}` });
    const f = await c.next((x) => (x.type === 'ack' || x.type === 'error') && x.id === `d${k}`);
    if (f.type === 'error') err = f;
    else await c.next((x) => x.reply_to === f.seq);
  }
  assert.ok(err, 'the database filled up');
  assert.equal(err.code, 'internal');
  assert.equal((await c.next((x) => x.unsaved === 1)).seq, err.seq);
  assert.equal(s.sql(`SELECT count(*) FROM messages WHERE client_id = '${err.id}'`).trim(), '0');
  execFileSync('prlimit', ['--pid', String(s.proc.pid), '--fsize=unlimited:']);
  c.send({ type: 'message', text: '我想退货', id: err.id });
  const ack = await c.next((x) => x.type === 'ack' && x.id === err.id);
  assert.deepEqual(ack, { v: 1, type: 'ack', seq: err.seq + 1, of: 'message', id: err.id });
  const reply = await c.next((x) => x.reply_to === ack.seq);
  assert.deepEqual([reply.type, reply.seq, reply.unsaved], ['answer', ack.seq + 1, undefined]);
  c.send({ type: 'message', text: '我想退货', id: err.id });
  const dup = await c.next((x) => x.type === 'ack' && x.id === err.id);
  assert.deepEqual([dup.seq, dup.duplicate], [ack.seq, 1]);
  assert.deepEqual(c.frames, [], 'nothing else: no error, no second answer');
  assert.equal(s.sql(`SELECT group_concat(seq) FROM messages WHERE client_id = '${err.id}'`).trim(), String(ack.seq));
  assert.equal(s.sql('SELECT max(seq) FROM messages').trim(), String(reply.seq));
  c.close();
}));

const THREAD = ['match_worker_min=1'];
for (const [way, extra] of [['', []], [', every commit by the writer thread', ['db_writer_min=1']],
  [', every question matched on the matching thread', THREAD],
  [', both threads', [...THREAD, 'db_writer_min=1']]]) {
test(`a burst of messages on many connections: every ack and answer in order, all stored (group commit${way})`, () => withServer({ set: [...SETS, 'rate_per_addr=1000', 'burst_per_addr=1000', ...extra] }, async (s) => {
  const clients = [];
  for (let i = 0; i < 20; i++) clients.push((await s.visitor())[0]);
  // Every client sends 5 messages at once, and one of them twice: they reach the server in the
  // same service turns, so they are stored by shared commits.
  for (const c of clients) {
    for (let k = 0; k < 5; k++) c.send({ type: 'message', text: k % 2 ? '发票怎么开' : '我想退货', id: `b${k}` });
    c.send({ type: 'message', text: '我想退货', id: 'b2' });
  }
  for (const c of clients) {
    let last = 0;
    for (let k = 0; k < 5; k++) {
      const ack = await c.next((f) => f.type === 'ack' && f.id === `b${k}` && !f.duplicate);
      assert.ok(ack.seq > last, `acks in order: ${ack.seq} after ${last}`);
      const reply = await c.next((f) => f.reply_to === ack.seq);
      assert.equal(reply.seq, ack.seq + 1);
      last = reply.seq;
    }
    const dup = await c.next((f) => f.type === 'ack' && f.duplicate === 1);
    assert.equal(dup.id, 'b2');
    assert.equal(c.frames.filter((f) => f.type === 'answer' || f.type === 'clarify').length, 0,
      `one answer per message: ${JSON.stringify(c.frames)}`);
    c.close();
  }
  assert.equal(s.sql("SELECT count(*) FROM messages WHERE dir = 'in'").trim(), '100');
  assert.equal(s.sql("SELECT count(*) FROM messages WHERE dir = 'out'").trim(), '100');
  const m = await (await fetch(`${s.url}/metrics`)).text();
  const commits = Number(/^kefu_group_commits_total (\d+)/m.exec(m)[1]);
  const committed = Number(/^kefu_group_committed_total (\d+)/m.exec(m)[1]);
  assert.ok(committed >= 100, `group commits stored the answered messages: ${committed}`);
  assert.ok(commits >= 1 && commits <= committed, `${commits} commits for ${committed} answers`);
  const onThread = Number(/^kefu_matched_on_thread_total (\d+)/m.exec(m)[1]);
  // With the thread the count depends on timing: a resend of a question not answered yet (b2
  // here) answers every waiting question at once, on the loop, and under ASan the whole burst
  // can arrive before it. The next test sees the thread used for certain.
  if (!extra.includes(THREAD[0])) assert.equal(onThread, 0);
}));
}

test('questions matched on the matching thread keep their order with the frames after them; a resend meanwhile is a duplicate; a close meanwhile loses nothing acknowledged', () => withServer({ set: [...SETS, ...THREAD] }, async (s) => {
  const [c, w] = await s.visitor({ lang: 'zh' });
  // sent at once: the choose and the feedback are stored at once, after the questions
  // before them (a flush answers every question first)
  c.send({ type: 'message', text: '我想退货', id: 'q1' });
  c.send({ type: 'message', text: '我想退货', id: 'q1' });
  c.send({ type: 'choose', entry: 'refund-progress', id: 'c1' });
  c.send({ type: 'message', text: '退款多久到账', id: 'q2' });
  c.send({ type: 'feedback', seq: 2, helpful: true, id: 'f1' });
  const want = [['ack', 1, 'q1'], ['answer', 2], ['ack', 1, 'q1', 1], ['ack', 3, 'c1'], ['answer', 4],
    ['ack', 5, 'q2'], ['answer', 6], ['ack', 7, 'f1']];
  const got = [];
  while (got.length < want.length) {
    const f = await c.next();
    if (f.type !== 'queue') got.push([f.type, f.seq, ...(f.id ? [f.id] : []), ...(f.duplicate ? [f.duplicate] : [])]);
  }
  assert.deepEqual(got, want);
  assert.equal(s.sql("SELECT group_concat(client_id, ',') FROM (SELECT client_id FROM messages WHERE dir = 'in' ORDER BY seq)").trim(), 'q1,c1,q2,f1');
  // a connection that closes with questions in flight: whatever was acknowledged is stored,
  // and the server goes on
  for (let i = 0; i < 30; i++) c.send({ type: 'message', text: '我想退货', id: `x${i}` });
  c.ws.terminate();
  const [c2, w2] = await s.visitor({ token: w.token, last_seq: 7 });
  assert.equal(w2.resumed, true);
  const { ack, reply } = await c2.ask('我想退货', 'after');
  assert.equal(reply.seq, ack.seq + 1);
  // what was stored of them is a prefix, in order, each with its answer
  const ids = s.sql("SELECT group_concat(client_id, ',') FROM (SELECT client_id FROM messages WHERE dir = 'in' AND client_id LIKE 'x%' ORDER BY seq)").trim();
  const k = ids ? ids.split(',').length : 0;
  assert.equal(ids, Array.from({ length: k }, (_, i) => `x${i}`).join(','));
  assert.equal(ack.seq, 8 + 2 * k);
  // the last question came alone, with no frame after it: matched on the thread
  const m = await (await fetch(`${s.url}/metrics`)).text();
  assert.ok(Number(/^kefu_matched_on_thread_total (\d+)/m.exec(m)[1]) >= 1);
  c2.close();
}));

test('lang auto: the language of the latest question also answers a chosen option', () => withServer({ set: SETS }, async (s) => {
  const [c] = await s.visitor({ lang: 'auto' });
  const { reply } = await c.ask('how long does a refund take', 'e1');
  assert.equal(reply.type, 'answer');
  assert.equal(reply.lang, 'en');
  c.send({ type: 'choose', entry: 'refund-progress', id: 'e2' });
  await c.next('ack');
  const ans = await c.next('answer');
  assert.equal(ans.entry, 'refund-progress');
  assert.equal(ans.lang, 'en');
  assert.match(ans.text, /[A-Za-z]/);
  assert.doesNotMatch(ans.text, /[\u4e00-\u9fff]/);
  assert.equal(s.sql(`SELECT lang FROM conversations`).trim(), 'en');
  c.close();
}));

test('an out-of-scope entry (decision = fallback): its own answer as a fallback, never a handoff', () => {
  const dir = tmpKnowledge();
  writeFileSync(join(dir, 'kb', 'oos.md'), `<a id = "oos-jobs"></a>

# ? 你们公司招人吗？
- 怎么投简历
- 有没有实习岗位
- 想应聘客服岗位
- 面试结果什么时候出
- 招不招实习生
- 兼职招不招

**Filters:**
- decision = fallback

{{shop}}的售后客服帮不上招聘的忙，请看官网的“加入我们”页面。
`);
  return withServer({ dir, set: SETS }, async (s) => {
    const [c] = await s.visitor({ lang: 'zh' });
    // fallbacks_to_handoff is 2: two real misses in a row would hand over; these are not misses
    for (const [i, q] of ['我想投个简历', '你们招实习生吗', '应聘客服岗位怎么弄'].entries()) {
      const { reply } = await c.ask(q, `j${i}`);
      assert.equal(reply.type, 'fallback', `${q}: ${JSON.stringify(reply)}`);
      assert.equal(reply.text, '测试商城的售后客服帮不上招聘的忙，请看官网的“加入我们”页面。');
    }
    assert.equal(c.frames.filter((f) => f.type === 'handoff').length, 0);
    assert.equal(s.sql("SELECT count(*) FROM messages WHERE dir = 'in' AND decision = 'fallback'").trim(), '3');
    c.close();
  });
});
