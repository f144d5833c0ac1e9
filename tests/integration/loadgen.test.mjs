// bench/loadgen, the benchmark's load generator, against a real kefu: in a closed loop on each
// of its event loops and at a fixed rate, every answer it counts is a message kefu stored,
// with no error, and the figures it prints are there. (Its speed is measured by make bench,
// never here.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { withServer, ROOT, MULT } from './helper.mjs';

const LOADGEN = join(ROOT, 'bench', 'loadgen');
const SETS = ['rate_per_conn=100000', 'burst_per_conn=100000', 'rate_per_addr=1000000',
  'burst_per_addr=1000000', 'fallbacks_to_handoff=100'];

const run = (args) => new Promise((resolve, reject) => {
  const t0 = Date.now();
  execFile(LOADGEN, args, { timeout: 60000 * MULT }, (err, stdout, stderr) => {
    if (err) reject(new Error(`loadgen ${args.join(' ')}: ${err.message}\n${stderr}`));
    else resolve({ ...JSON.parse(stdout.trim().split('\n').pop()), elapsed_ms: Date.now() - t0 });
  });
});

for (const [what, extra, loop] of [
  ['a closed loop (libev, the default there)', [], 'ev'],
  ['a closed loop on poll()', ['--loop', 'poll'], 'poll'],
  ['a fixed rate (libuv, the default there)', ['-r', '300'], 'uv'],
]) {
  test(`loadgen: ${what}: every answer counted was stored, no error`, () => withServer({ set: SETS }, async (s) => {
    const questions = join(s.dir, 'q.txt');
    writeFileSync(questions, '我想退货\n发票怎么开\n退货要多久\n');
    const r = await run(['-u', s.wsUrl, '-f', questions, '-c', '20', '-d', '1.5', '-w', '0.3',
      '-p', String(s.proc.pid), '--json', ...extra]);
    assert.equal(r.loop, loop);
    // its phases are bounded: 1 s to settle, 0.3 s warm-up, 1.5 s measured, at most 3 s to
    // drain and 3 s to close (on poll() it once waited 30 s more for nothing)
    assert.ok(r.elapsed_ms < 15000, `loadgen took ${r.elapsed_ms} ms`);
    assert.equal(r.ready, 20);
    assert.ok(r.answered > 50, `answered ${r.answered}`);
    assert.deepEqual([r.errors, r.conn_errors, r.closed_early], [0, 0, 0]);
    assert.ok(r.p50_ms > 0 && r.p50_ms <= r.p99_ms && r.p99_ms <= r.max_ms, JSON.stringify(r));
    assert.ok(r.rss_conns_mb > 0 && r.server_cpu_us > 0 && r.gen_cpu_us > 0, JSON.stringify(r));
    if (loop === 'uv') assert.ok(r.answered_per_s > 200 && r.answered_per_s < 400, `${r.answered_per_s}/s`);
    // answers are counted within the measured window, warm-up excluded; all of them stored
    const stored = Number(s.sql("SELECT count(*) FROM messages WHERE dir = 'in'").trim());
    assert.ok(stored >= r.answered, `${stored} stored, ${r.answered} answered`);
  }));
}
