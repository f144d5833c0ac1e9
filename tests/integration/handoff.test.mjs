// Human handoff end to end with real sockets: agents log in over HTTP and speak
// kefu.agent.v1; visitors are queued, assigned, taken over, transferred, handed back and
// closed (docs/protocol.md part 2). Every wait is an upper bound scaled by KEFU_TIMEOUT_MULT.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { withServer, Client, KEFU_BIN, MULT, sleep, tmpKnowledge, Server, AGENT_PW as PW, addAgent, post, login, agent } from './helper.mjs';

const AGENT = 'kefu.agent.v1';
const SETS = ['rate_per_conn=1000', 'burst_per_conn=1000', 'rate_per_addr=1000', 'burst_per_addr=1000',
  'presence_grace_s=0.2'];

// The next frame of type whose predicate holds, dropping the others of that type.
async function nextWhere(c, type, pred, ms = 5000) {
  return c.next((f) => f.type === type && pred(f), ms);
}

const lastQueue = (c, pred) => nextWhere(c, 'queue', pred);

test('handoff by each route; queue order and positions for several visitors (manual claim)', () => {
  const dir = tmpKnowledge();
  appendFileSync(join(dir, 'intents', 'basic.rules'),
    '\n[billing_dispute]\npriority = 85\npattern = 重复扣款\naction = handoff billing_dispute\nreply = 扣款问题需要人工核实，正在转接。\n');
  return withServer({ dir, set: [...SETS, 'assign=manual'] }, async (s) => {
    addAgent(s, 'amy');
    const a = await agent(s, 'amy');
    assert.equal(a.welcome.assign, 'manual');
    const [v1] = await s.visitor({ lang: 'zh', page: '/orders/1' });
    const h1 = (await v1.ask('我要转人工', 'a1')).reply;
    assert.equal(h1.reason, 'asked');
    // no case has ended yet: 300 s per case, over amy's 5 slots
    assert.deepEqual(h1.queue, { position: 1, wait_s: 60 });
    const [v2] = await s.visitor({ lang: 'zh' });
    assert.equal((await v2.ask('今天天气怎么样', 'b1')).reply.type, 'fallback');
    const h2 = (await v2.ask('火星上有没有猫', 'b2')).reply;
    assert.equal(h2.type, 'handoff');
    assert.equal(h2.reason, 'not_understood');
    assert.equal(h2.queue.position, 2);
    const [v3] = await s.visitor({ lang: 'zh' });
    const h3 = (await v3.ask('出现了重复扣款', 'c1')).reply;
    assert.equal(h3.reason, 'billing_dispute');
    assert.equal(h3.text, '扣款问题需要人工核实，正在转接。');
    assert.equal(h3.queue.position, 3);
    const [v4] = await s.visitor({ lang: 'zh' });
    const h4 = (await v4.ask('我要投诉', 'd1')).reply;
    assert.equal(h4.reason, 'complaint');
    assert.equal(h4.urgent, true);
    assert.equal(h4.queue.position, 1); // complaints first
    // the others moved down, and were told so
    assert.equal((await v1.next('queue')).position, 2);
    assert.equal((await v2.next('queue')).position, 3);
    assert.equal((await v3.next('queue')).position, 4);
    const q = await lastQueue(a, (f) => f.items.length === 4);
    assert.deepEqual(q.items.map((i) => i.reason), ['complaint', 'asked', 'not_understood', 'billing_dispute']);
    assert.equal(q.items[1].page, '/orders/1');
    assert.equal(q.items[1].preview, '我要转人工');
    // the agent claims the head; everyone behind moves up
    a.send({ type: 'claim', conv: q.items[0].conv, id: 'k1' });
    assert.equal((await a.next('ack')).id, 'k1');
    const asg = await a.next('assigned');
    assert.equal(asg.by, 'claim');
    assert.equal(asg.reason, 'complaint');
    assert.ok(asg.transcript.some((t) => t.from === 'visitor' && t.text === '我要投诉'));
    assert.equal((await v4.next('agent_joined')).agent, 'AMY');
    assert.equal((await v1.next('queue')).position, 1);
    assert.equal((await v3.next('queue')).position, 3);
    // claiming it again is refused
    a.send({ type: 'claim', conv: q.items[0].conv, id: 'k2' });
    assert.equal((await a.next('error')).code, 'not_queued');
    a.send({ type: 'claim', conv: 99999, id: 'k3' });
    assert.equal((await a.next('error')).code, 'unknown_conv');
    [a, v1, v2, v3, v4].forEach((c) => c.close());
  });
});

test('auto assignment to the least-loaded agent, capacity, and the queue behind it', () => withServer({ set: SETS }, async (s) => {
  addAgent(s, 'amy', 1);
  addAgent(s, 'bob', 2);
  const a = await agent(s, 'amy');
  const b = await agent(s, 'bob');
  const vs = [];
  for (let i = 0; i < 4; i++) {
    const [v] = await s.visitor({ lang: 'zh' });
    await v.ask('转人工', `h${i}`);
    vs.push(v);
  }
  // amy (first, never assigned) gets 1; she is full; bob gets 2 and 3; the 4th waits
  const a1 = await a.next('assigned');
  const b1 = await b.next('assigned');
  const b2 = await b.next('assigned');
  assert.equal(a1.by, 'auto');
  const convs = [a1.conv, b1.conv, b2.conv].sort((x, y) => x - y);
  assert.equal(new Set(convs).size, 3);
  const agents = await nextWhere(a, 'agents', (f) => (f.items.find((i) => i.name === 'bob') || {}).load === 2);
  assert.equal(agents.items.find((i) => i.name === 'amy').load, 1);
  // amy closes hers: the 4th visitor goes to her
  a.send({ type: 'close', conv: a1.conv, id: 'c1' });
  assert.equal((await a.next('released')).why, 'close');
  const a2 = await a.next('assigned');
  assert.ok(![a1.conv, b1.conv, b2.conv].includes(a2.conv));
  assert.equal((await vs[3].next('agent_joined')).agent, 'AMY');
  // capacity: a claim beyond max_chats is refused
  a.frames = a.frames.filter((f) => f.type !== 'queue');
  const [v5] = await s.visitor({ lang: 'zh' });
  await v5.ask('转人工', 'h5');
  const q = await lastQueue(a, (f) => f.items.length === 1);
  a.send({ type: 'claim', conv: q.items[0].conv, id: 'k' });
  assert.equal((await a.next('error')).code, 'agent_full');
  [a, b, ...vs, v5].forEach((c) => c.close());
}));

test('takeover: bot silent, messages and typing both ways, notes for agents only, transfer, hand back, close and survey', () => withServer({ set: SETS }, async (s) => {
  addAgent(s, 'amy');
  addAgent(s, 'bob');
  const a = await agent(s, 'amy');
  const [v, w] = await s.visitor({ lang: 'zh', page: '/cart' });
  await v.ask('我想退货', 'q0');
  await v.ask('转人工', 'q1');
  const asg = await a.next('assigned');
  assert.equal(asg.page, '/cart');
  assert.equal(asg.reason, 'asked');
  const conv = asg.conv;
  await v.next('agent_joined');
  // the bot is silent: a question it could answer gets only its ack, and the agent sees it
  v.send({ type: 'message', text: '退款多久到账', id: 'q2' });
  const ack = await v.next('ack');
  const m = await a.next('message');
  assert.deepEqual([m.conv, m.seq, m.from, m.text], [conv, ack.seq, 'visitor', '退款多久到账']);
  await sleep(150);
  assert.equal(v.frames.filter((f) => f.type === 'answer').length, 0);
  // typing both ways
  v.send({ type: 'typing', active: true });
  assert.equal((await a.next('typing')).conv, conv);
  a.send({ type: 'typing', conv, active: true });
  assert.equal((await v.next('typing')).active, true);
  // agent message
  a.send({ type: 'message', conv, text: '您好，我来帮您查。', id: 'm1' });
  const mack = await a.next('ack');
  const am = await v.next('agent_message');
  assert.deepEqual([am.seq, am.agent, am.text], [mack.seq, 'AMY', '您好，我来帮您查。']);
  // KB search and sending an entry
  a.send({ type: 'search', query: '退款 到账', id: 's1' });
  const sr = await a.next('search_results');
  assert.ok(sr.results.length > 0);
  a.send({ type: 'send_entry', conv, entry: sr.results[0].entry, id: 'e1' });
  await a.next((f) => f.type === 'ack' && f.id === 'e1');
  assert.equal((await v.next('agent_message')).text, sr.results[0].answer);
  // a note: agents only
  a.send({ type: 'note', conv, text: '客户很着急', id: 'n1' });
  await a.next((f) => f.type === 'ack' && f.id === 'n1');
  assert.equal((await a.next('note')).text, '客户很着急');
  // transfer to bob (with a note): bob must be connected first
  a.send({ type: 'transfer', conv, to: 'bob', note: '物流问题', id: 't0' });
  assert.equal((await a.next('error')).code, 'agent_offline');
  a.send({ type: 'transfer', conv, to: 'nobody', id: 't1' });
  assert.equal((await a.next('error')).code, 'unknown_agent');
  const b = await agent(s, 'bob');
  a.send({ type: 'transfer', conv, to: 'bob', note: '物流问题', id: 't2' });
  assert.equal((await a.next('released')).why, 'transfer');
  const bt = await b.next('assigned');
  assert.deepEqual([bt.by, bt.from, bt.note], ['transfer', 'amy', '物流问题']);
  assert.deepEqual(bt.notes.map((n) => [n.agent, n.text]), [['amy', '客户很着急'], ['amy', '物流问题']]);
  assert.ok(bt.transcript.some((t) => t.from === 'agent' && t.text === '您好，我来帮您查。'));
  assert.equal((await v.next('agent_joined')).agent, 'BOB');
  // amy no longer holds it
  a.send({ type: 'message', conv, text: 'x', id: 'm2' });
  assert.equal((await a.next('error')).code, 'not_yours');
  // hand back to the bot: it answers again
  b.send({ type: 'handback', conv, id: 'h' });
  assert.equal((await b.next('released')).why, 'handback');
  await v.next('bot_back');
  assert.equal((await v.ask('退款多久到账', 'q3')).reply.type, 'answer');
  // a second handoff, then close: the survey
  await v.ask('转人工', 'q4');
  // both agents hold nothing now; amy was assigned longer ago, so she gets it
  const again = await nextWhere(a, 'assigned', (f) => f.conv === conv);
  assert.equal(again.earlier.length, 1); // the earlier case of this visitor session
  assert.equal(again.earlier[0].end, 'handback');
  a.send({ type: 'close', conv, id: 'cl' });
  await v.next('closed');
  const sv = await v.next('survey');
  assert.equal(sv.questions[0].id, 'csat');
  assert.equal(sv.questions.length, 1);
  v.send({ type: 'survey', csat: 5, comment: '很好', id: 'sv1' });
  const svAck = await v.next((f) => f.type === 'ack' && f.id === 'sv1');
  assert.equal(svAck.of, 'survey');
  // sent again (its ack lost, say): acknowledged again with its seq, not refused
  v.send({ type: 'survey', csat: 5, comment: '很好', id: 'sv1' });
  const svDup = await v.next((f) => f.type === 'ack' && f.id === 'sv1');
  assert.equal(svDup.seq, svAck.seq);
  assert.equal(svDup.duplicate, 1);
  v.send({ type: 'survey', csat: 4, id: 'sv2' });
  assert.equal((await v.next('error')).code, 'already_answered');
  v.send({ type: 'survey', csat: 9, id: 'sv3' });
  assert.equal((await v.next('error')).code, 'bad_field');
  assert.equal(s.sql('select csat, comment from surveys').trim(), '5|很好');
  // the visitor's replay never contains notes
  v.close();
  const [v2] = await s.visitor({ token: w.token, last_seq: 0 });
  await sleep(200);
  const all = JSON.stringify(v2.frames);
  assert.ok(!all.includes('客户很着急'));
  assert.ok(!all.includes('物流问题'));
  assert.ok(all.includes('您好，我来帮您查。'));
  [a, b, v2].forEach((c) => c.close());
}));

test('presence: away takes no new case, offline after the grace period, reconnect gets conversations back', () => withServer({ set: SETS }, async (s) => {
  addAgent(s, 'amy');
  addAgent(s, 'bob');
  const a = await agent(s, 'amy');
  const b = await agent(s, 'bob');
  b.send({ type: 'presence', status: 'away', id: 'p' });
  await b.next('ack');
  await nextWhere(a, 'agents', (f) => (f.items.find((i) => i.name === 'bob') || {}).status === 'away');
  const [v] = await s.visitor({ lang: 'zh' });
  await v.ask('转人工', 'h');
  const asg = await a.next('assigned'); // not bob
  // amy's socket closes: offline after presence_grace_s, seen by bob
  a.close();
  await nextWhere(b, 'agents', (f) => (f.items.find((i) => i.name === 'amy') || {}).status === 'offline');
  // she comes back and gets her conversation
  const a2 = await agent(s, 'amy');
  const back = await a2.next('assigned');
  assert.deepEqual([back.conv, back.by], [asg.conv, 'restore']);
  await nextWhere(b, 'agents', (f) => (f.items.find((i) => i.name === 'amy') || {}).status === 'online');
  [a2, b, v].forEach((c) => c.close());
}));

test('nobody online: leave a message, tickets for agents; outside business hours: told so, not queued', () => withServer({ set: SETS }, async (s) => {
  addAgent(s, 'amy');
  const [v] = await s.visitor({ lang: 'zh' });
  const h = (await v.ask('转人工', 'h')).reply;
  assert.deepEqual([h.available, h.why, h.leave_message], [false, 'offline', true]);
  v.send({ type: 'leave_message', contact: 'not a contact', text: '请回电', id: 'l0' });
  assert.equal((await v.next('error')).code, 'bad_contact');
  v.send({ type: 'leave_message', contact: '+86 138-0000-0000', text: '请回电', name: '张三', id: 'l1' });
  const ack = await v.next((f) => f.type === 'ack' && f.id === 'l1');
  const t = await v.next('ticket');
  assert.equal(t.reply_to, ack.seq);
  // the message replaced the wait: the case left the queue
  assert.equal(s.sql("select end_kind from cases").trim(), 'ticket');
  const a = await agent(s, 'amy');
  a.send({ type: 'tickets', id: 'tl' });
  const tl = await a.next((f) => f.type === 'tickets' && f.id === 'tl');
  assert.equal(tl.items.length, 1);
  assert.deepEqual([tl.items[0].contact, tl.items[0].name, tl.items[0].status], ['+86 138-0000-0000', '张三', 'open']);
  a.send({ type: 'ticket_claim', ticket: t.ticket, id: 'tc' });
  await a.next((f) => f.type === 'ack' && f.id === 'tc');
  assert.equal((await a.next('ticket')).ticket.status, 'claimed');
  a.send({ type: 'ticket_close', ticket: t.ticket, id: 'tx' });
  await a.next((f) => f.type === 'ack' && f.id === 'tx');
  assert.equal((await a.next('ticket')).ticket.status, 'closed');
  a.send({ type: 'ticket_close', ticket: t.ticket, id: 'ty' });
  assert.equal((await a.next('error')).code, 'ticket_closed');
  [v, a].forEach((c) => c.close());
}));

test('outside business hours the visitor is told so and nothing is queued', () => withServer({
  set: [...SETS, 'timezone=Asia/Shanghai', ...['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'].map((d) => `hours.${d}=closed`)],
}, async (s) => {
  addAgent(s, 'amy');
  const a = await agent(s, 'amy');
  const [v] = await s.visitor({ lang: 'en' });
  const h = (await v.ask('I want a human', 'h')).reply;
  assert.deepEqual([h.type, h.available, h.why, h.leave_message], ['handoff', false, 'hours', true]);
  assert.equal(s.sql('select count(*) from cases').trim(), '0');
  // the bot keeps answering
  assert.equal((await v.ask('hello', 'g')).reply.type, 'reply');
  [a, v].forEach((c) => c.close());
}));

test('first-response limit: a waiting case is flagged to every online agent', () => withServer({
  set: [...SETS, 'assign=manual', 'first_response_s=0.3'],
}, async (s) => {
  addAgent(s, 'amy');
  const a = await agent(s, 'amy');
  const [v] = await s.visitor({ lang: 'zh' });
  await v.ask('转人工', 'h');
  const sla = await a.next('sla', 3000);
  assert.ok(sla.waiting_s >= 0);
  const q = await lastQueue(a, (f) => f.items.length === 1 && f.items[0].flagged === true);
  assert.equal(q.items[0].conv, sla.conv);
  [a, v].forEach((c) => c.close());
}));

test('restart: queue order, assignments, tickets and missed agent messages survive kill -9', async () => {
  const s = new Server({ set: [...SETS, 'assign=manual'] });
  try {
    await s.start();
    addAgent(s, 'amy');
    const a = await agent(s, 'amy');
    const [v1, w1] = await s.visitor({ lang: 'zh' });
    await v1.ask('转人工', 'a');
    const [v2, w2] = await s.visitor({ lang: 'zh' });
    await v2.ask('转人工', 'b');
    const [v3] = await s.visitor({ lang: 'zh' });
    await v3.ask('我要投诉', 'c');
    const q = await lastQueue(a, (f) => f.items.length === 3);
    a.send({ type: 'claim', conv: q.items[1].conv, id: 'k' }); // v1's
    const asg = await a.next('assigned');
    const [v4] = await s.visitor({ lang: 'zh' });
    v4.send({ type: 'leave_message', contact: 'x@example.com', text: '稍后联系', id: 'l' });
    await v4.next('ticket');
    const last = (await v1.next('agent_joined')).seq;
    v1.close();
    a.send({ type: 'message', conv: asg.conv, text: '您还在吗？', id: 'm' });
    await a.next((f) => f.type === 'ack' && f.id === 'm');
    await s.kill9();
    await s.start();
    const a2 = await agent(s, 'amy');
    const back = await a2.next('assigned');
    assert.deepEqual([back.conv, back.by], [asg.conv, 'restore']);
    const q2 = await a2.next('queue');
    assert.deepEqual(q2.items.map((i) => i.reason), ['complaint', 'asked']);
    a2.send({ type: 'tickets', id: 't' });
    assert.equal((await a2.next((f) => f.type === 'tickets' && f.id === 't')).items.length, 1);
    // the visitor resumes and sees the message it missed
    const [r1] = await s.visitor({ token: w1.token, last_seq: last });
    const missed = await r1.next('agent_message');
    assert.equal(missed.text, '您还在吗？');
    assert.equal(missed.replay, true);
    // a queued visitor who reconnects is told their position
    const [r2] = await s.visitor({ token: w2.token, last_seq: 99 });
    assert.equal((await r2.next('queue')).position, 2);
    [a2, r1, r2, v2, v3, v4].forEach((c) => c.close());
    const exit = await s.stop();
    assert.equal(exit.code, 0);
  } catch (e) {
    process.stderr.write(`---- kefu stderr ----\n${s.stderr}\n---- end ----\n`);
    throw e;
  } finally {
    await s.stop().catch(() => {});
    s.cleanup();
  }
});

test('security: no token, bad and expired tokens, logout, brute force, visitor sending agent frames', () => withServer({
  set: [...SETS, 'agent_token_ttl_s=1', 'login_max_failures=3', 'login_window_s=60'],
}, async (s) => {
  addAgent(s, 'amy');
  // frames before auth
  const c0 = await new Client(s.wsUrl, { protocol: AGENT }).open();
  c0.send({ type: 'claim', conv: 1, id: 'x' });
  assert.equal((await c0.next('error')).code, 'unauthorized');
  // a wrong token (a visitor's session token is not an agent token either)
  const [v, w] = await s.visitor({ lang: 'zh' });
  c0.send({ type: 'auth', token: w.token });
  assert.equal((await c0.next('error')).code, 'unauthorized');
  assert.equal((await c0.waitClose()).code, 4001);
  // the visitor socket knows no agent frame
  for (const type of ['auth', 'claim', 'note', 'history', 'transfer', 'tickets']) {
    v.send({ type, conv: 1, token: w.token, text: 'x', id: type });
    const e = await v.next('error');
    assert.deepEqual([e.code, e.id], ['unknown_type', type]);
  }
  // expired token
  const token = await login(s, 'amy');
  await sleep(1100);
  const c1 = await new Client(s.wsUrl, { protocol: AGENT }).open();
  c1.send({ type: 'auth', token });
  assert.equal((await c1.next('error')).code, 'unauthorized');
  await c1.waitClose();
  // logout revokes and closes
  const a = await agent(s, 'amy');
  assert.equal((await post(s, '/api/logout', { token: a.token })).status, 200);
  assert.equal((await a.waitClose()).code, 4001);
  const c2 = await new Client(s.wsUrl, { protocol: AGENT }).open();
  c2.send({ type: 'auth', token: a.token });
  assert.equal((await c2.next('error')).code, 'unauthorized');
  // brute force: 3 failures lock the name, even for the right password
  for (let i = 0; i < 3; i++)
    assert.equal((await post(s, '/api/login', { name: 'amy', password: 'wrong' + i })).status, 401);
  const locked = await post(s, '/api/login', { name: 'amy', password: PW });
  assert.equal(locked.status, 429);
  assert.ok(locked.body.retry_after_ms > 0);
  // unknown names get the same answer as wrong passwords (and count for the address)
  assert.equal((await post(s, '/api/login', { name: 'zed', password: 'x' })).status, 429);
  assert.equal((await post(s, '/api/login', { nam: 'x' })).status, 400);
  assert.ok(!s.stderr.includes(PW) && !s.stderr.includes('wrong0'));
  v.close();
}));

test('an English conversation gets the desk in English: back to the bot, closed, survey', () => withServer({ set: [...SETS, 'survey_nps=yes'] }, async (s) => {
  addAgent(s, 'amy');
  const a = await agent(s, 'amy');
  const [v] = await s.visitor({ lang: 'auto' });
  await v.ask('i want a real person', 'e1');
  const asg = await a.next('assigned');
  await v.next('agent_joined');
  a.send({ type: 'handback', conv: asg.conv, id: 'h1' });
  assert.match((await v.next('bot_back')).text, /^The agent has finished/);
  await v.ask('i want a real person', 'e2');
  await nextWhere(a, 'assigned', (f) => f.conv === asg.conv);
  a.send({ type: 'close', conv: asg.conv, id: 'c1' });
  assert.match((await v.next('closed')).text, /^This conversation is closed/);
  const sv = await v.next('survey');
  assert.deepEqual(sv.questions.map((q) => q.text),
    ['How satisfied are you with our service?', 'How likely are you to recommend us to a friend?']);
  v.close();
  a.close();
}));
