// The knowledge page's endpoints: GET /api/explain (the JSON of `kefu ask --json`) and
// GET /api/reload-status (the last reload and its file:line errors), for logged-in agents.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { withServer, sleep, MULT, KEFU_BIN } from './helper.mjs';

const PW = 'correct-horse-1';

// An agent's login token for s (created once per server).
async function token(s) {
  if (!s.token) {
    execFileSync(KEFU_BIN, ['agent', 'add', 'ed', '--db', s.db], { input: PW + '\n', stdio: ['pipe', 'pipe', 'pipe'] });
    const r = await fetch(`${s.url}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'ed', password: PW }) });
    s.token = (await r.json()).token;
  }
  return s.token;
}

async function get(s, path, auth = true) {
  const headers = auth ? { authorization: `Bearer ${await token(s)}` } : {};
  const r = await fetch(s.url + path, { headers });
  return { status: r.status, type: r.headers.get('content-type'), body: await r.json() };
}

test('the knowledge endpoints need an agent\'s login token', () => withServer({}, async (s) => {
  for (const path of ['/api/explain?q=x', '/api/reload-status']) {
    assert.deepEqual(await get(s, path, false), { status: 401, type: 'application/json', body: { error: 'unauthorized' } });
    const bad = await fetch(s.url + path, { headers: { authorization: 'Bearer 0123456789abcdef0123456789abcdef' } });
    assert.equal(bad.status, 401);
    assert.equal((await get(s, path)).status, 200);
  }
  // a logged-out token no longer works
  await fetch(`${s.url}/api/logout`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: s.token }) });
  const after = await fetch(`${s.url}/api/reload-status`, { headers: { authorization: `Bearer ${s.token}` } });
  assert.equal(after.status, 401);
}));

test('/api/explain gives what kefu ask --json prints', () => withServer({}, async (s) => {
  const q = '我的订单 202401010001234 退款多久到账？';
  const r = await get(s, `/api/explain?q=${encodeURIComponent(q)}`);
  assert.equal(r.status, 200);
  assert.equal(r.type, 'application/json');
  const cli = JSON.parse(execFileSync(KEFU_BIN, ['ask', '--json', '--kb', join(s.dir, 'kb'),
    '--intents', join(s.dir, 'intents'), q], { encoding: 'utf8' }));
  for (const k of ['decision', 'entry', 'normalized', 'tokens', 'lang', 'rule', 'slots'])
    assert.deepEqual(r.body[k], cli[k], k);
  assert.deepEqual(r.body.candidates.map((c) => c.entry), cli.candidates.map((c) => c.entry));
  assert.ok(r.body.candidates[0].question);
  assert.equal(typeof r.body.elapsed_us, 'number');
}));

test('/api/explain refuses a missing or over-long question with 400', () => withServer({}, async (s) => {
  assert.equal((await get(s, '/api/explain')).status, 400);
  assert.equal((await get(s, '/api/explain?q=')).status, 400);
  const long = await get(s, `/api/explain?q=${'a'.repeat(1001)}`);
  assert.equal(long.status, 400);
  assert.match(long.body.error, /q is required/);
  assert.equal((await fetch(`${s.url}/api/nothing`)).status, 404);
}));

test('/api/reload-status reports a failed reload with file:line, then a good one', () => withServer({}, async (s) => {
  let r = await get(s, '/api/reload-status');
  assert.equal(r.status, 200);
  assert.equal(r.body.ok, null);
  assert.ok(r.body.entries > 0);
  const file = join(s.dir, 'kb', 'delivery.md');
  const orig = readFileSync(file, 'utf8');
  writeFileSync(file, orig + '\n<a id = "return-policy"></a>\n\n# ? 重复的条目\n\n```markdown\n重复\n```\n');
  const t0 = Date.now();
  while ((r = await get(s, '/api/reload-status')).body.reloads_failed < 1) {
    if (Date.now() - t0 > 5000 * MULT) throw new Error('reload never failed');
    await sleep(25);
  }
  assert.equal(r.body.ok, false);
  assert.ok(r.body.last > 0);
  assert.ok(r.body.errors.some((e) => /\.md:\d+: duplicate id .return-policy./.test(e)), JSON.stringify(r.body.errors));
  writeFileSync(file, orig);
  while ((r = await get(s, '/api/reload-status')).body.reloads_ok < 1) {
    if (Date.now() - t0 > 10000 * MULT) throw new Error('reload never succeeded');
    await sleep(25);
  }
  assert.equal(r.body.ok, true);
  assert.deepEqual(r.body.errors, []);
}));
