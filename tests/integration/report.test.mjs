// `kefu report`, `kefu purge`, `kefu export` over a database seeded with known events (the
// sqlite3 CLI), every figure asserted (docs/metrics.md); then the live path: the server stores
// the decision and the normalised text of each message, and serves the same report at
// /api/report to agents only, with the records counters in /metrics.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KEFU_BIN, Server, Client, withServer } from './helper.mjs';

const ENV = { ...process.env, TZ: 'UTC' };
const D1 = Date.UTC(2024, 2, 4); // Monday 2024-03-04
const D2 = D1 + 86400000;
const H = 3600000;
const S = 1000;
const NOW = Date.now();

function kefu(args, opts = {}) {
  const r = spawnSync(KEFU_BIN, args, { env: ENV, encoding: 'utf8', ...opts });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function sql(db, text) {
  execFileSync('sqlite3', [db], { input: text, env: ENV });
}

const q = (v) => (v === null || v === undefined ? 'NULL' : typeof v === 'string' ? `'${v.replace(/'/g, "''")}'` : String(v));

// Builds the seed: 9 conversations in the period (2024-03-04 .. 2024-03-06, the last day
// empty) and one after it. Expected figures are worked out in the assertions below.
function seed(db) {
  const lines = [];
  const conv = (id, created, active) =>
    lines.push(`INSERT INTO conversations(id, token, created, state, active) VALUES (${id}, '${String(id).padStart(32, '0')}', ${created}, 'bot', ${q(active)});`);
  let seqs = {};
  const msg = (c, t, dir, kind, { text = null, entry = null, decision = null, conf = null, norm = null, frame = null } = {}) => {
    seqs[c] = (seqs[c] || 0) + 1;
    lines.push(`INSERT INTO messages(conv_id, seq, dir, kind, text, entry, frame, created, decision, confidence, norm) VALUES (${c}, ${seqs[c]}, '${dir}', '${kind}', ${q(text)}, ${q(entry)}, ${q(frame)}, ${t}, ${q(decision)}, ${q(conf)}, ${q(norm)});`);
    return seqs[c];
  };
  const ask = (c, t, text, decision, conf, norm, entry = null) => {
    msg(c, t, 'in', 'message', { text, entry, decision, conf, norm });
    msg(c, t, 'out', decision === 'handoff' ? 'handoff' : decision, { entry, frame: `{"type":"${decision}"}` });
  };
  const fb = (c, t, entry, helpful) => {
    const seq = msg(c, t, 'in', 'feedback', { entry });
    lines.push(`INSERT INTO feedback(conv_id, seq, entry, helpful, created) VALUES (${c}, ${seq}, '${entry}', ${helpful}, ${t});`);
  };
  const kase = (id, c, reason, { agent = null, queued, assigned = null, fr = null, ended = null, end = '', state = 'ended' }) =>
    lines.push(`INSERT INTO cases(id, conv_id, reason, urgent, state, agent_id, queued, assigned, first_response, ended, end_kind) VALUES (${id}, ${c}, '${reason}', 0, '${state}', ${q(agent)}, ${queued}, ${q(assigned)}, ${q(fr)}, ${q(ended)}, '${end}');`);
  const survey = (c, k, csat, nps, ces) =>
    lines.push(`INSERT INTO surveys(conv_id, case_id, csat, nps, ces, created) VALUES (${c}, ${k}, ${csat}, ${q(nps)}, ${q(ces)}, ${D2});`);

  lines.push(`INSERT INTO agents(id, name, display, pw_hash, max_chats, created) VALUES (10, 'amy', 'Amy', '', 5, 0), (11, 'bob', 'Bob', '', 5, 0);`);
  // c1: answered, rated helpful: automated
  conv(1, D1 + 1 * H, D1 + 1 * H + 60 * S);
  ask(1, D1 + 1 * H, 'How much is shipping?', 'answer', 0.9, 'how much is shipping', 'e.ship');
  fb(1, D1 + 1 * H + 60 * S, 'e.ship', 1);
  // c2: a miss, a clarify, an option chosen, rated not helpful: automated
  conv(2, D1 + 2 * H, D1 + 2 * H + 120 * S);
  ask(2, D1 + 2 * H, 'How to fly?', 'fallback', 0.01, 'how to fly');
  ask(2, D1 + 2 * H + 30 * S, 'Refund', 'clarify', 0.2, 'refund');
  msg(2, D1 + 2 * H + 60 * S, 'in', 'choose', { entry: 'e.refund', decision: 'chosen' });
  msg(2, D1 + 2 * H + 60 * S, 'out', 'answer', { entry: 'e.refund' });
  fb(2, D1 + 2 * H + 120 * S, 'e.refund', 0);
  // c3: asked for a person; amy: queue 60 s, first response 90 s, handle 540 s; 5/10/2
  conv(3, D1 + 3 * H, D1 + 3 * H + 600 * S);
  ask(3, D1 + 3 * H, 'human please', 'handoff', 1, 'human please');
  kase(1, 3, 'asked', { agent: 10, queued: D1 + 3 * H, assigned: D1 + 3 * H + 60 * S, fr: D1 + 3 * H + 90 * S, ended: D1 + 3 * H + 600 * S, end: 'close' });
  survey(3, 1, 5, 10, 2);
  // c4: two misses then a person; bob: queue 120 s, first response 180 s, handle 1200 s; 2/5/-
  conv(4, D1 + 4 * H, D1 + 4 * H + 1320 * S);
  ask(4, D1 + 4 * H, 'how to FLY', 'fallback', 0.02, 'how to fly');
  ask(4, D1 + 4 * H + 10 * S, 'How to fly!', 'fallback', 0.03, 'how to fly');
  kase(2, 4, 'not_understood', { agent: 11, queued: D1 + 4 * H, assigned: D1 + 4 * H + 120 * S, fr: D1 + 4 * H + 180 * S, ended: D1 + 4 * H + 1320 * S, end: 'close' });
  survey(4, 2, 2, 5, null);
  // c5: a low-confidence answer, then a complaint; amy: 30/40/300 s; never rated
  conv(5, D2 + 1 * H, D2 + 1 * H + 330 * S);
  ask(5, D2 + 1 * H, 'shipping cost??', 'answer', 0.25, 'shipping cost', 'e.ship');
  kase(3, 5, 'complaint', { agent: 10, queued: D2 + 1 * H, assigned: D2 + 1 * H + 30 * S, fr: D2 + 1 * H + 40 * S, ended: D2 + 1 * H + 330 * S, end: 'close' });
  // c6: opened, never asked anything
  conv(6, D2 + 2 * H, null);
  // c7: answered a minute ago: still open
  conv(7, D2 + 3 * H, NOW - 60 * S);
  ask(7, D2 + 3 * H, 'shipping', 'answer', 0.95, 'shipping', 'e.ship');
  // c8: waiting in the queue: open
  conv(8, D2 + 4 * H, D2 + 4 * H);
  ask(8, D2 + 4 * H, 'agent', 'handoff', 1, 'agent');
  kase(4, 8, 'asked', { queued: D2 + 4 * H, state: 'queued' });
  // c9: a miss, a person, left a message instead of waiting; the ticket closed after 1 h
  conv(9, D2 + 5 * H, D2 + 5 * H + 60 * S);
  ask(9, D2 + 5 * H, 'Where is my order', 'fallback', 0.05, 'where is my order');
  kase(5, 9, 'not_understood', { queued: D2 + 5 * H, ended: D2 + 5 * H + 60 * S, end: 'ticket' });
  lines.push(`INSERT INTO tickets(id, conv_id, contact, text, status, created, closed) VALUES (1, 9, 'a@b.c', 'call me', 'closed', ${D2 + 5 * H + 60 * S}, ${D2 + 6 * H + 60 * S});`);
  lines.push(`INSERT INTO tickets(id, conv_id, contact, text, status, created) VALUES (2, 3, 'x@y.z', 'one more thing', 'open', ${D1 + 3 * H + 700 * S});`);
  lines.push(`INSERT INTO notes(conv_id, agent_id, text, created) VALUES (3, 10, 'vip', ${D1 + 3 * H + 100 * S});`);
  lines.push(`INSERT INTO events(conv_id, kind, detail, created) VALUES (3, 'queued', 'asked', ${D1 + 3 * H});`);
  // c10: after the period
  conv(10, D2 + 6 * 86400000, D2 + 6 * 86400000);
  ask(10, D2 + 6 * 86400000, 'how to fly', 'fallback', 0.01, 'how to fly');
  sql(db, 'BEGIN;\n' + lines.join('\n') + '\nCOMMIT;\n');
}

function freshDb() {
  const dir = mkdtempSync(join(tmpdir(), 'kefu-report-'));
  const db = join(dir, 'k.db');
  // any command that opens the store creates the schema
  assert.equal(kefu(['agent', 'list', '--db', db]).code, 0);
  return { dir, db };
}

function report(db, ...args) {
  const r = kefu(['report', '--db', db, '--format', 'json', ...args]);
  assert.equal(r.code, 0, r.err);
  return JSON.parse(r.out);
}

const close = (a, b, what) => assert.ok(Math.abs(a - b) < 1e-3, `${what}: ${a} != ${b}`);

test('report: every figure of a seeded period', () => {
  const { dir, db } = freshDb();
  try {
    seed(db);
    const r = report(db, '--from', '2024-03-04', '--to', '2024-03-06', '--by', 'day');
    const t = r.total;
    assert.equal(r.period.from_ms, D1);
    assert.equal(r.period.to_ms, D1 + 3 * 86400000);
    assert.deepEqual([t.conversations, t.engaged, t.open, t.closed, t.automated, t.human, t.handed_off], [9, 8, 2, 6, 2, 5, 5]);
    close(t.automation_rate, 2 / 6, 'automation');
    close(t.handoff_rate, 5 / 8, 'handoff');
    assert.deepEqual(t.handoff_reasons, [
      { reason: 'asked', cases: 2, rate: 0.25 },
      { reason: 'not_understood', cases: 2, rate: 0.25 },
      { reason: 'complaint', cases: 1, rate: 0.125 },
    ]);
    assert.deepEqual(t.bot, {
      messages: 10, answers: 3, clarifies: 1, fallbacks: 4, handoffs: 2, replies: 0, chosen: 1,
      low_confidence: 1, answer_rate: 0.3, clarify_rate: 0.1, fallback_rate: 0.4, low_confidence_rate: 0.3333,
    });
    assert.deepEqual(t.cases, {
      total: 5, open: 1, assigned: 3, abandoned: 1,
      first_response_s: { n: 3, mean: 103.333, median: 90, p90: 162, max: 180 },
      queue_s: { n: 3, mean: 70, median: 60, p90: 108, max: 120 },
      handle_s: { n: 3, mean: 680, median: 540, p90: 1068, max: 1200 },
    });
    assert.deepEqual(t.csat, { n: 2, mean: 3.5, distribution: [0, 1, 0, 0, 1], satisfied_rate: 0.5, offered: 3, response_rate: 0.6667 });
    assert.deepEqual(t.nps, { n: 2, promoters: 1, passives: 0, detractors: 1, score: 0 });
    assert.deepEqual(t.ces, { n: 1, mean: 2 });

    // per day: the third day is empty, its rates undefined (null), not 0
    assert.deepEqual(r.rows.map((x) => x.key), ['2024-03-04', '2024-03-05', '2024-03-06']);
    const [d1, d2, d3] = r.rows;
    assert.deepEqual([d1.conversations, d1.engaged, d1.open, d1.closed, d1.automated], [4, 4, 0, 4, 2]);
    assert.equal(d1.automation_rate, 0.5);
    assert.deepEqual([d2.conversations, d2.engaged, d2.open, d2.closed, d2.automated], [5, 4, 2, 2, 0]);
    assert.equal(d2.automation_rate, 0);
    assert.equal(d2.cases.handle_s.median, 300);
    assert.equal(d3.conversations, 0);
    assert.equal(d3.automation_rate, null);
    assert.equal(d3.bot.fallback_rate, null);
    assert.equal(d3.cases.handle_s.median, null);
    assert.equal(d3.csat.mean, null);
    assert.equal(d3.nps.score, null);

    // per agent: amy held c3 (540 s, CSAT 5) and c5 (300 s, never rated); bob c4
    assert.deepEqual(r.agents.map((a) => [a.key, a.conversations, a.cases.handle_s.median, a.cases.handle_s.p90, a.csat.n, a.csat.mean]),
      [['amy', 2, 420, 516, 1, 5], ['bob', 1, 1200, 1200, 1, 2]]);

    assert.deepEqual(r.entries, [
      { entry: 'e.ship', answers: 3, chosen: 0, helpful: 1, not_helpful: 0, helpful_rate: 1 },
      { entry: 'e.refund', answers: 0, chosen: 1, helpful: 0, not_helpful: 1, helpful_rate: 0 },
    ]);

    // the to-do list: grouped by normalised text, most frequent first, then latest; the
    // miss after the period (c10) is not counted
    assert.deepEqual(r.todo.map((x) => [x.text, x.count, x.fallbacks, x.clarifies, x.low_confidence]), [
      ['how to fly', 3, 3, 0, 0],
      ['where is my order', 1, 1, 0, 0],
      ['shipping cost', 1, 0, 0, 1],
      ['refund', 1, 0, 1, 0],
    ]);
    assert.deepEqual(r.todo[0].examples.map((e) => [e.text, e.conversation]),
      [['How to fly!', 4], ['how to FLY', 4], ['How to fly?', 2]]);

    assert.equal(r.tickets.opened, 2);
    assert.equal(r.tickets.closed, 1);
    assert.equal(r.tickets.time_to_close_s.median, 3600);
    assert.equal(r.tickets.open_now, 1);
    assert.ok(Math.abs(r.tickets.age_open_s.median - (Date.now() - (D1 + 3 * H + 700 * S)) / 1000) < 120);

    // --by agent and --by entry rows; CSV and text
    assert.deepEqual(report(db, '--from', '2024-03-04', '--to', '2024-03-06', '--by', 'agent').rows.map((a) => a.key), ['amy', 'bob']);
    const csv = kefu(['report', '--db', db, '--from', '2024-03-04', '--to', '2024-03-06', '--by', 'week', '--format', 'csv']);
    assert.equal(csv.code, 0, csv.err);
    const rows = csv.out.trim().split('\n');
    assert.match(rows[0], /^key,conversations,engaged,open,closed,automated,handed_off,automation_rate/);
    assert.match(rows[1], /^2024-W10,9,8,2,6,2,5,0\.3333,0\.6250,10,4,1,0\.4000,5,90\.000,162\.000,60\.000,108\.000,540\.000,1068\.000,2,3\.500,2,0\.00,1,2\.000$/);
    assert.match(rows[2], /^total,9,/);
    const ecsv = kefu(['report', '--db', db, '--from', '2024-03-04', '--to', '2024-03-06', '--by', 'entry', '--format', 'csv']);
    assert.deepEqual(ecsv.out.trim().split('\n'), ['entry,answers,chosen,helpful,not_helpful,helpful_rate', 'e.ship,3,0,1,0,1.0000', 'e.refund,0,1,0,1,0.0000']);
    const txt = kefu(['report', '--db', db, '--from', '2024-03-04', '--to', '2024-03-06']);
    assert.equal(txt.code, 0);
    assert.match(txt.out, /automation rate\s+33\.3%\s+\(2 of 6 closed without a person\)/);
    assert.match(txt.out, /NPS\s+\+0 \(n=2/);

    // a shorter idle time closes c7 (bot only): 3 of 7
    const r2 = report(db, '--from', '2024-03-04', '--to', '2024-03-06', '--idle-minutes', '0.5');
    assert.deepEqual([r2.total.open, r2.total.closed, r2.total.automated], [1, 7, 3]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('report: a schema-3 file is upgraded in place; a conversation resumed after its period', () => {
  // The same rows in a file this kefu made and in an empty schema-3 file (a dump of what kefu
  // created before schema 4), which the report's open upgrades. Both get one more visitor
  // message: c1 comes back ten days after the period (a miss), which counts in the period
  // it started in, although it is past every message of the period in time order.
  const fresh = freshDb();
  const dir3 = mkdtempSync(join(tmpdir(), 'kefu-report-v3-'));
  const db3 = join(dir3, 'k.db');
  const LATE = D2 + 10 * 86400000;
  try {
    sql(db3, readFileSync(join(dirname(fileURLToPath(import.meta.url)), '../fixtures/schema3.sql'), 'utf8'));
    for (const db of [fresh.db, db3]) {
      seed(db);
      sql(db, `INSERT INTO messages(conv_id, seq, dir, kind, text, created, decision, confidence, norm) VALUES (1, 4, 'in', 'message', 'how to fly??', ${LATE}, 'fallback', 0.01, 'how to fly');
UPDATE conversations SET active = ${LATE} WHERE id = 1;`);
    }
    const args = ['--from', '2024-03-04', '--to', '2024-03-06', '--by', 'day'];
    const v3 = report(db3, ...args);
    const v4 = report(fresh.db, ...args);
    const schema = (db) => execFileSync('sqlite3', [db, "SELECT (SELECT max(version) FROM schema_version) || ' ' || (SELECT group_concat(name, ' ') FROM (SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'messages' ORDER BY name))"], { env: ENV, encoding: 'utf8' }).trim();
    assert.equal(schema(db3), '5 messages_time');
    assert.equal(schema(fresh.db), '5 messages_time');
    // identical reports, but for what depends on the moment they ran
    const strip = (r) => JSON.parse(JSON.stringify(r, (k, v) => (k === 'now_ms' || k === 'age_open_s' ? undefined : v)));
    assert.deepEqual(strip(v3), strip(v4));

    const t = v4.total;
    assert.deepEqual([t.bot.messages, t.bot.fallbacks], [11, 5]);
    assert.deepEqual([v4.rows[0].bot.fallbacks, v4.rows[1].bot.fallbacks], [4, 1]);
    assert.deepEqual(v4.todo[0].examples.map((e) => [e.text, e.conversation, e.at_ms]),
      [['how to fly??', 1, LATE], ['How to fly!', 4, D1 + 4 * H + 10 * S], ['how to FLY', 4, D1 + 4 * H]]);
    assert.deepEqual([v4.todo[0].text, v4.todo[0].count, v4.todo[0].last_ms], ['how to fly', 4, LATE]);
    // the upgraded file keeps working for the live path's writes
    assert.equal(kefu(['agent', 'list', '--db', db3]).code, 0);
  } finally {
    rmSync(fresh.dir, { recursive: true, force: true });
    rmSync(dir3, { recursive: true, force: true });
  }
});

test('report: an empty period and usage errors', () => {
  const { dir, db } = freshDb();
  try {
    seed(db);
    const r = report(db, '--from', '2023-01-01', '--to', '2023-01-01', '--by', 'day');
    assert.equal(r.total.conversations, 0);
    assert.equal(r.total.automation_rate, null);
    assert.equal(r.total.cases.first_response_s.n, 0);
    assert.equal(r.total.cases.first_response_s.median, null);
    assert.deepEqual([r.rows.length, r.entries.length, r.todo.length, r.agents.length], [1, 0, 0, 0]);
    assert.equal(r.tickets.opened, 0);
    assert.equal(r.tickets.open_now, 0); // ticket 2 was opened after this period
    assert.equal(kefu(['report', '--db', db, '--from', '2024-03-05', '--to', '2024-03-04']).code, 2);
    assert.equal(kefu(['report', '--db', db, '--from', '2024/03/05']).code, 2);
    assert.equal(kefu(['report', '--db', db, '--by', 'month']).code, 2);
    assert.equal(kefu(['report', '--db', db, '--from', '2000-01-01', '--to', '2024-01-01', '--by', 'day']).code, 2);
    assert.equal(kefu(['report', '--db', join(dir, 'missing.db')]).code, 1);
    assert.ok(!existsSync(join(dir, 'missing.db')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('export prints one conversation without its token; purge deletes what is old', () => {
  const { dir, db } = freshDb();
  try {
    seed(db);
    const ex = kefu(['export', '--db', db, '--conversation', '3']);
    assert.equal(ex.code, 0, ex.err);
    const doc = JSON.parse(ex.out);
    assert.equal(doc.conversation.id, 3);
    assert.ok(!ex.out.includes('00000000000000000000000000000003'), 'the token is not exported');
    assert.deepEqual(doc.messages.map((m) => [m.seq, m.dir, m.kind]), [[1, 'in', 'message'], [2, 'out', 'handoff']]);
    assert.deepEqual(doc.messages[1].frame, { type: 'handoff' });
    assert.deepEqual(doc.cases.map((c) => [c.reason, c.agent, c.end]), [['asked', 'amy', 'close']]);
    assert.deepEqual(doc.surveys.map((s) => [s.csat, s.nps, s.ces]), [[5, 10, 2]]);
    assert.deepEqual(doc.notes, [{ agent: 'amy', text: 'vip', created: D1 + 3 * H + 100 * S }]);
    assert.deepEqual(doc.tickets.map((t) => t.contact), ['x@y.z']);
    assert.deepEqual(doc.events.map((e) => e.kind), ['queued']);
    const byToken = kefu(['export', '--db', db, '--conversation', '00000000000000000000000000000003']);
    assert.equal(JSON.parse(byToken.out).conversation.id, 3);
    assert.equal(kefu(['export', '--db', db, '--conversation', '99']).code, 1);
    assert.equal(kefu(['export', '--db', db]).code, 2);

    // before 2024-03-05: c1..c4 go (c3 with its ticket, note, survey, event); the rest stays
    const p = kefu(['purge', '--db', db, '--before', '2024-03-05', '--vacuum']);
    assert.equal(p.code, 0, p.err);
    assert.equal(p.out.trim(), 'deleted 4 conversations, 16 messages, 2 feedback, 2 cases, 2 surveys, 1 notes, 1 tickets, 1 events');
    const count = (t) => Number(execFileSync('sqlite3', [db, `SELECT count(*) FROM ${t}`]).toString());
    assert.deepEqual(['conversations', 'feedback', 'cases', 'surveys', 'notes', 'tickets', 'events'].map(count), [6, 0, 3, 0, 0, 1, 0]);
    const r = report(db, '--from', '2024-03-04', '--to', '2024-03-06');
    assert.equal(r.total.conversations, 5);
    // everything before a later date, except the conversation still waiting in the queue
    // and the one active a minute ago
    const p2 = kefu(['purge', '--db', db, '--before', '2024-04-01']);
    assert.match(p2.out, /^deleted 4 conversations,/);
    assert.deepEqual(execFileSync('sqlite3', [db, 'SELECT id FROM conversations ORDER BY id']).toString().trim().split('\n'), ['7', '8']);
    assert.equal(kefu(['purge', '--db', db]).code, 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('live: stored decisions and normalised text, /api/report for agents only, /metrics', () =>
  withServer({ set: ['rate_per_conn=1000', 'burst_per_conn=1000'] }, async (s) => {
    execFileSync(KEFU_BIN, ['agent', 'add', 'amy', '--db', s.db], { input: 'correct-horse-1\n', stdio: ['pipe', 'pipe', 'pipe'] });
    const [v] = await s.visitor({ lang: 'en' });
    const a = (await v.ask('When will my order ship?', 'm1')).reply;
    assert.equal(a.type, 'answer');
    const miss = (await v.ask('ＺＺＺ Quantum  Teleport?', 'm2')).reply;
    assert.equal(miss.type, 'fallback');
    v.send({ type: 'feedback', id: 'f1', seq: a.seq, helpful: false });
    await v.next((f) => f.type === 'ack' && f.id === 'f1');
    const h = (await v.ask('转人工', 'm3')).reply;
    assert.equal(h.type, 'handoff');
    const rows = s.sql("SELECT kind, decision, norm, confidence IS NOT NULL FROM messages WHERE dir = 'in' ORDER BY seq").trim().split('\n');
    assert.equal(rows[0], `message|answer|when will my order ship|1`);
    assert.equal(rows[1], 'message|fallback|zzz quantum teleport|1');
    assert.equal(rows[2], 'feedback|||0');
    assert.match(rows[3], /^message\|handoff\|转人工\|1$/);

    // agents only
    const url = s.url + '/api/report';
    assert.equal((await fetch(url)).status, 401);
    assert.equal((await fetch(url, { headers: { authorization: 'Bearer ' + '0'.repeat(32) } })).status, 401);
    const login = await fetch(s.url + '/api/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'amy', password: 'correct-horse-1' }) });
    const { token } = await login.json();
    const auth = { authorization: 'Bearer ' + token };
    const today = new Date();
    const ymd = (d) => `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
    const r = await fetch(`${url}?from=${ymd(today)}&to=${ymd(today)}&by=day`, { headers: auth });
    assert.equal(r.status, 200);
    const j = await r.json();
    assert.equal(j.period.by, 'day');
    assert.equal(j.rows.length, 1);
    assert.deepEqual([j.total.conversations, j.total.engaged, j.total.open, j.total.handed_off], [1, 1, 1, 1]);
    assert.deepEqual([j.total.bot.answers, j.total.bot.fallbacks, j.total.bot.handoffs], [1, 1, 1]);
    assert.deepEqual(j.total.handoff_reasons.map((x) => x.reason), ['asked']);
    assert.deepEqual(j.entries.map((e) => [e.answers, e.not_helpful]), [[1, 1]]);
    assert.deepEqual(j.todo.map((t) => [t.text, t.count, t.examples[0].text]), [['zzz quantum teleport', 1, 'ＺＺＺ Quantum  Teleport?']]);
    assert.equal((await fetch(`${url}?by=month`, { headers: auth })).status, 400);
    assert.equal((await fetch(`${url}?from=2024-13-01`, { headers: auth })).status, 400);
    // the same document as the command line
    const cli = JSON.parse(execFileSync(KEFU_BIN, ['report', '--db', s.db, '--format', 'json', '--from', ymd(today), '--to', ymd(today), '--by', 'day']).toString());
    assert.deepEqual(cli.total.bot, j.total.bot);
    // a logged-out token no longer opens it
    await fetch(s.url + '/api/logout', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }) });
    assert.equal((await fetch(url, { headers: auth })).status, 401);

    const m = await (await fetch(s.url + '/metrics')).text();
    assert.match(m, /^kefu_queue_length 1$/m);
    assert.match(m, /^kefu_handoffs_total\{reason="asked"\} 1$/m);
    assert.match(m, /^kefu_tickets_open 0$/m);
    assert.match(m, /^kefu_feedback_total\{helpful="false"\} 1$/m);
    assert.match(m, /^kefu_csat_count 0$/m);
    v.close();
  }));
