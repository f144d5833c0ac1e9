// The HTTP side: web/ through the lws mount, /healthz, /metrics, and a clean SIGTERM.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withServer } from './helper.mjs';

test('web/ is served with strict headers; unknown paths are 404', () => withServer({}, async (s) => {
  const index = await fetch(`${s.url}/`);
  assert.equal(index.status, 200);
  assert.match(index.headers.get('content-type'), /text\/html/);
  assert.match(index.headers.get('content-security-policy'), /script-src 'self'/);
  assert.match(await index.text(), /<script src="widget.js" data-kefu-server=/);
  const js = await fetch(`${s.url}/widget.js`);
  assert.equal(js.status, 200);
  assert.equal((await fetch(`${s.url}/no-such-file`)).status, 404);
  assert.equal((await fetch(`${s.url}/../../etc/passwd`)).status !== 200, true);
}));

test('/healthz reports status, connections and entries', () => withServer({}, async (s) => {
  const [c] = await s.visitor();
  const r = await fetch(`${s.url}/healthz`);
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('cache-control'), 'no-store');
  assert.deepEqual(await r.json(), { status: 'ok', connections: 1, entries: 4, reloads_failed: 0 });
  c.close();
}));

// answer_min puts 退款 (about 0.9 on the fixture) in the clarify band and leaves 我想退货
// (about 1.0) an answer: one decision of each kind whatever the matcher's fine print.
test('/metrics is Prometheus text with connections, messages, decisions, latency, reloads, errors', () => withServer({ set: ['answer_min=0.97', 'clarify_min=0.05'] }, async (s) => {
  const [c] = await s.visitor();
  await c.ask('我想退货', 'a');
  await c.ask('退款', 'b');
  c.send({ type: 'nope' });
  await c.next('error');
  const r = await fetch(`${s.url}/metrics`);
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
  const m = await r.text();
  for (const line of [
    'kefu_connections 1', 'kefu_connections_total 1', 'kefu_messages_total 2',
    'kefu_decisions_total{decision="answer"} 1', 'kefu_decisions_total{decision="clarify"} 1',
    'kefu_match_seconds_bucket{le="+Inf"} 2', 'kefu_match_seconds_count 2',
    'kefu_reloads_total{result="ok"} 0', 'kefu_reloads_total{result="failed"} 0',
    'kefu_errors_total{code="unknown_type"} 1', 'kefu_knowledge_entries 4',
  ]) assert.ok(m.split('\n').includes(line), `missing "${line}" in\n${m}`);
  // every sample line is NAME{labels} VALUE, every family has HELP and TYPE
  for (const line of m.trim().split('\n')) {
    assert.match(line, /^(# (HELP|TYPE) \w+ .+|\w+(\{[^}]*\})? [0-9.e+-]+)$/, line);
  }
  c.close();
}));

test('SIGTERM: connections are closed with 1001, the process exits 0', () => withServer({}, async (s) => {
  const [a] = await s.visitor();
  const [b] = await s.visitor();
  const { code, signal } = await s.stop('SIGTERM');
  assert.equal(code, 0);
  assert.equal(signal, null);
  assert.equal((await a.waitClose()).code, 1001);
  assert.equal((await b.waitClose()).reason, 'server shutting down');
  assert.match(s.stderr, /event=stopped/);
}));

test('SIGINT with no connections exits 0 at once', () => withServer({}, async (s) => {
  const { code } = await s.stop('SIGINT');
  assert.equal(code, 0);
}));
