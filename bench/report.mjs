// Report benchmark (issue 7): seeds a database with 100,000 conversations over one year and
// 1,000,000 messages (half of them visitor messages with the bot's decision, score and
// normalised text), 20,000 handoff cases with 20 agents, surveys, feedback and tickets,
// then times `kefu report` over the whole year, over 30 days, and by day. Target: the
// year-long report under 1 s. The seed is made by SQL inside sqlite3 (recursive CTEs), in a
// database whose schema kefu itself created. KEFU_BENCH_REPORT_DB=path keeps the database.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const kefu = path.join(root, process.env.KEFU_BUILD || 'build', 'kefu');
const CONVS = 100000;
const PER_CONV = 10; // 5 visitor messages, 5 bot frames
const BASE = Date.UTC(2023, 0, 1);
const YEAR = 365 * 86400000;
const STEP = Math.floor(YEAR / CONVS);
const env = { ...process.env, TZ: 'UTC' };

const keep = process.env.KEFU_BENCH_REPORT_DB;
const dir = keep ? null : mkdtempSync(path.join(tmpdir(), 'kefu-bench-report-'));
const db = keep || path.join(dir, 'report.db');

function seed() {
  execFileSync(kefu, ['agent', 'list', '--db', db], { env, stdio: 'ignore' });
  const sql = `
PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF;
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20)
INSERT INTO agents(id, name, display, pw_hash, max_chats, created)
  SELECT i, 'agent' || i, 'Agent ' || i, '', 5, ${BASE} FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${CONVS})
INSERT INTO conversations(id, token, created, lang, state, last_seq, active)
  SELECT i, printf('%032x', i), ${BASE} + (i - 1) * ${STEP}, 'zh', 'bot', ${PER_CONV},
         ${BASE} + (i - 1) * ${STEP} + ${PER_CONV} * 30000 FROM n;
CREATE TEMP TABLE k(j INTEGER PRIMARY KEY);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${PER_CONV})
INSERT INTO k SELECT i FROM n;
-- visitor rows (odd seq) with a decision; bot frames (even seq) the size of real ones
INSERT INTO messages(conv_id, seq, dir, kind, client_id, text, entry, frame, created, reply_to,
                     decision, confidence, norm)
  SELECT c.id, k.j,
    CASE WHEN k.j % 2 THEN 'in' ELSE 'out' END,
    CASE WHEN k.j % 2 THEN 'message' ELSE 'answer' END,
    CASE WHEN k.j % 2 THEN 'm' || k.j END,
    CASE WHEN k.j % 2 THEN '我想问一下订单' || (r % 3000) || '什么时候发货呢' END,
    'entry.' || (r % 300),
    CASE WHEN k.j % 2 = 0 THEN '{"type":"answer","entry":"entry.' || (r % 300) ||
      '","text":"您好，您的订单会在付款后 48 小时内发货，发货后可以在订单页面查看物流信息。如有疑问请联系客服。","lang":"zh","confidence":0.8}' END,
    c.created + k.j * 30000,
    CASE WHEN k.j % 2 = 0 THEN k.j - 1 END,
    CASE WHEN k.j % 2 THEN CASE WHEN r % 100 < 60 THEN 'answer' WHEN r % 100 < 70 THEN 'clarify'
      WHEN r % 100 < 85 THEN 'fallback' WHEN r % 100 < 95 THEN 'reply' ELSE 'handoff' END END,
    CASE WHEN k.j % 2 THEN (r % 1000) / 1000.0 END,
    CASE WHEN k.j % 2 THEN '我想问一下订单' || (r % 3000) || '什么时候发货呢' END
  FROM (SELECT c.id AS id, c.created AS created, k.j AS j,
          (c.id * 2654435761 + k.j * 40503) % 1000003 AS r FROM conversations c, k) c
  JOIN (SELECT j FROM k) k ON k.j = c.j;
-- 20 % of conversations reach a person
INSERT INTO cases(conv_id, reason, urgent, state, agent_id, queued, assigned, first_response,
                  ended, flagged, end_kind)
  SELECT id, CASE id % 4 WHEN 0 THEN 'asked' WHEN 1 THEN 'not_understood' WHEN 2 THEN
      'complaint' ELSE 'order' END, 0, 'ended', CASE WHEN id % 50 THEN 1 + id % 20 END,
    created + 60000, CASE WHEN id % 50 THEN created + 60000 + (id * 7919) % 300000 END,
    CASE WHEN id % 50 THEN created + 90000 + (id * 7919) % 300000 END,
    created + 600000 + (id * 104729) % 1800000, 0, CASE WHEN id % 50 THEN 'close' ELSE 'ticket' END
  FROM conversations WHERE id % 5 = 0;
INSERT INTO surveys(conv_id, case_id, csat, nps, ces, created)
  SELECT conv_id, id, 1 + id % 5, CASE WHEN id % 3 THEN id % 11 END, CASE WHEN id % 2 THEN 1 + id % 7 END, ended
  FROM cases WHERE end_kind = 'close' AND id % 5 < 3;
INSERT INTO feedback(conv_id, seq, ref_seq, entry, helpful, created)
  SELECT id, 10, 9, 'entry.' || (id % 300), id % 4 != 0, created + 300000 FROM conversations WHERE id % 10 = 0;
INSERT INTO tickets(conv_id, name, contact, text, status, agent_id, created, closed)
  SELECT conv_id, 'n', 'a@b.c', 'please call', CASE WHEN id % 3 THEN 'closed' ELSE 'open' END, NULL,
    ended, CASE WHEN id % 3 THEN ended + 3600000 END FROM cases WHERE end_kind = 'ticket' OR id % 20 = 0;
COMMIT;
ANALYZE;
SELECT (SELECT count(*) FROM conversations) || ' conversations, ' || (SELECT count(*) FROM messages) ||
  ' messages, ' || (SELECT count(*) FROM cases) || ' cases, ' || (SELECT count(*) FROM surveys) ||
  ' surveys, ' || (SELECT count(*) FROM feedback) || ' feedback, ' || (SELECT count(*) FROM tickets) || ' tickets';
`;
  return execFileSync('sqlite3', [db], { input: sql, env, encoding: 'utf8' }).trim().split('\n').pop();
}

function time(args, runs = 5) {
  const t = [];
  let out = '';
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(kefu, ['report', '--db', db, ...args], { env, encoding: 'utf8', maxBuffer: 1 << 26 });
    t.push(Number(process.hrtime.bigint() - t0) / 1e6);
    if (r.status !== 0) throw new Error(`kefu report ${args.join(' ')}: ${r.stderr}`);
    out = r.stdout;
  }
  t.sort((a, b) => a - b);
  return { median: t[Math.floor(runs / 2)], min: t[0], out };
}

try {
  let what = 'kept database';
  if (!keep || !existsSync(db)) {
    const t0 = Date.now();
    what = seed();
    console.log(`report bench: seeded ${what} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  } else {
    console.log(`report bench: using ${db}`);
  }
  const cases = [
    ['year, json', ['--from', '2023-01-01', '--to', '2023-12-31', '--format', 'json']],
    ['year, by day, json', ['--from', '2023-01-01', '--to', '2023-12-31', '--by', 'day', '--format', 'json']],
    ['year, by agent, text', ['--from', '2023-01-01', '--to', '2023-12-31', '--by', 'agent']],
    ['30 days, json', ['--from', '2023-06-01', '--to', '2023-06-30', '--format', 'json']],
  ];
  console.log('report                     median_ms  min_ms');
  let year = null;
  for (const [name, args] of cases) {
    const r = time(args);
    if (!year) year = r;
    console.log(`${name.padEnd(26)} ${r.median.toFixed(0).padStart(9)} ${r.min.toFixed(0).padStart(7)}`);
  }
  const j = JSON.parse(year.out);
  console.log(`(year: ${j.total.conversations} conversations, ${j.total.bot.messages} bot decisions, ` +
    `${j.total.cases.total} cases, automation ${(100 * j.total.automation_rate).toFixed(1)} %)`);
  console.log(`target: the year's report <= 1000 ms: ${year.median <= 1000 ? 'met' : 'NOT met'}`);
} finally {
  if (dir) rmSync(dir, { recursive: true, force: true });
}
