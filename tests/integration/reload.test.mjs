// Hot reload: an edited entry is served to connected clients without dropping them; a broken
// edit is logged with file:line and the previous knowledge keeps serving.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { withServer, sleep, MULT } from './helper.mjs';

const SETS = ['rate_per_conn=1000', 'burst_per_conn=1000', 'rate_per_addr=1000', 'burst_per_addr=1000'];

async function metric(s, name) {
  const text = await (await fetch(`${s.url}/metrics`)).text();
  const m = new RegExp(`^${name.replace(/[{}"=]/g, (c) => `\\${c}`)} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

async function waitMetric(s, name, value) {
  const t0 = Date.now();
  while ((await metric(s, name)) !== value) {
    if (Date.now() - t0 > 5000 * MULT) throw new Error(`${name} never reached ${value}`);
    await sleep(25);
  }
}

test('an edited entry is answered to a client that stays connected (inotify)', () => withServer({ set: SETS }, async (s) => {
  const [c] = await s.visitor({ lang: 'zh' });
  assert.match((await c.ask('我想退货', 'a')).reply.text, /7 天内/);
  assert.match((await c.ask('我想退货', 'a2')).reply.text, /7 天内/); // the encoded answer, kept
  assert.equal(await metric(s, 'kefu_answer_cache_entries'), 1);
  const file = join(s.dir, 'kb', 'returns.md');
  writeFileSync(file, readFileSync(file, 'utf8').replace('收到商品 7 天内', '收到商品 15 天内'));
  await waitMetric(s, 'kefu_reloads_total{result="ok"}', 1);
  assert.equal(await metric(s, 'kefu_answer_cache_entries'), 0); // the old knowledge's, gone
  const after = await c.ask('我想退货', 'b');
  assert.equal(after.reply.entry, 'return-policy');
  assert.match(after.reply.text, /15 天内/);
  assert.match((await c.ask('我想退货', 'b2')).reply.text, /15 天内/);
  assert.equal(await metric(s, 'kefu_answer_cache_entries'), 1);
  assert.equal(c.closed, null);
  await s.waitLog(/event=reload result=ok/);
  c.close();
}));

test('a broken edit keeps the old answers and logs file:line', () => withServer({ set: SETS }, async (s) => {
  const [c] = await s.visitor({ lang: 'zh' });
  const file = join(s.dir, 'kb', 'delivery.md');
  // a changed answer plus a duplicate id: the whole reload is refused
  writeFileSync(file, readFileSync(file, 'utf8').replace('付款后 48 小时内发货', '付款后 1 小时内发货') +
    '\n<a id = "return-policy"></a>\n\n# ? 重复的条目\n\n```markdown\n重复\n```\n');
  await waitMetric(s, 'kefu_reloads_total{result="failed"}', 1);
  await s.waitLog(/reload: \S*\.md:\d+: duplicate id .return-policy./);
  const r = await c.ask('发货时间', 'a');
  assert.equal(r.reply.entry, 'delivery-time');
  assert.match(r.reply.text, /48 小时内/);
  const health = await (await fetch(`${s.url}/healthz`)).json();
  assert.equal(health.status, 'ok');
  assert.equal(health.reloads_failed, 1);
  c.close();
}));

test('SIGHUP reloads', () => withServer({ set: SETS }, async (s) => {
  s.proc.kill('SIGHUP');
  await waitMetric(s, 'kefu_reloads_total{result="ok"}', 1);
  await s.waitLog(/event=sighup/);
  const [c] = await s.visitor();
  assert.equal((await c.ask('我想退货', 'a')).reply.type, 'answer');
  c.close();
}));
