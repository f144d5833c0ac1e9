// Server benchmark (`make bench`, after the matching one): bench/loadgen against `kefu serve`
// and against the nlp.js `ws` peer (bench/peer-nlpjs/server.mjs), both on BANKING77's train
// split as knowledge and asked its test split, on loopback, in the same run. Prints figures
// and ratios. Every run is bounded (loadgen -d, plus its own hard limit).
//
// Environment: KEFU_DATA (../shared/data), KEFU_BUILD (build), BENCH_CONNS ("1000 10000"),
// BENCH_TIME (seconds per run, 10), BENCH_ROUNDS (closed-loop runs per system and connection
// count, 2), KEFU_BENCH_NO_PEER=1, BENCH_ONLY=kefu|peer,
// BENCH_ACKS=separate (an ack frame before each reply, as without hello's fold_acks; by default
// both servers fold the ack into the reply, as the shipped widget asks: docs/protocol.md).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startServer, stopServer } from './serve.mjs';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const data = process.env.KEFU_DATA || path.resolve(root, '..', 'shared', 'data');
const kefu = path.join(root, process.env.KEFU_BUILD || 'build', 'kefu');
const loadgen = path.join(root, 'bench', 'loadgen');
const conns = (process.env.BENCH_CONNS || '1000 10000').split(/\s+/).filter(Boolean).map(Number);
const secs = Number(process.env.BENCH_TIME || 10);
const rounds = Math.max(1, Number(process.env.BENCH_ROUNDS || 2));
const noPeer = process.env.KEFU_BENCH_NO_PEER === '1';
const separateAcks = process.env.BENCH_ACKS === 'separate';
const train = path.join(data, 'banking77', 'train.tsv');
const test = path.join(data, 'banking77', 'test.tsv');

// The peer has no people to hand over to: kefu's bot answers every message too (otherwise a
// conversation with two misses in a row goes to the queue, the bot falls silent there, and the
// generator's connection waits for answers that a person would give).
const LIMITS = ['rate_per_conn=100000', 'burst_per_conn=100000', 'rate_per_addr=1000000',
  'burst_per_addr=1000000', 'max_conns_per_addr=30000', 'max_conns=30000', 'max_queue=64',
  'fallbacks_to_handoff=100'];

if (!existsSync(train)) {
  console.error(`bench: no BANKING77 at ${data} (set KEFU_DATA)`);
  process.exit(1);
}
const dir = mkdtempSync(path.join(tmpdir(), 'kefu-bench-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
execFileSync(path.join(root, 'bench', 'mkkb.sh'), [train, dir], { env: { ...process.env, KEFU: kefu } });

const start = (cmd, args, opts) => startServer(dir, cmd, args, opts);
const stop = stopServer;

const startKefu = () => start(kefu, ['serve', '--listen', '127.0.0.1:0', '--db', path.join(dir, 'k.db'),
  '--kb', path.join(dir, 'kb'), '--intents', path.join(dir, 'intents'), '--web', path.join(root, 'web'),
  '--set', 'learned=2', '--set', `cache_dir=${dir}`, ...LIMITS.flatMap((kv) => ['--set', kv])]);
const startPeer = () => start('node', ['server.mjs', '--train', train], { cwd: path.join(root, 'bench', 'peer-nlpjs') });

function load(s, label, n, extra = [], d = secs) {
  const args = ['-u', s.url, '-f', test, '-c', String(n), '-d', String(d), '-w', '2',
    '-p', String(s.pid), '--label', label, '--json', ...(separateAcks ? ['--separate-acks'] : []), ...extra];
  let out;
  try {
    out = execFileSync(loadgen, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 200000 });
  } catch (e) {
    console.error(`bench: loadgen failed (${e.signal || e.status}); the server's last log lines:\n${s.log.split('\n').slice(-15).join('\n')}`);
    throw e;
  }
  const r = JSON.parse(out.trim().split('\n').pop());
  if (!separateAcks && r.ack_frames > 0) console.error(`bench: ${label} sent ${r.ack_frames} ack frames: it does not fold acks`);
  console.error(`bench: ${label} c=${n}${extra.length ? ' ' + extra.join(' ') : ''}: ${r.answered_per_s.toFixed(0)}/s p99 ${r.p99_ms} ms`);
  return r;
}

const results = { kefu: {}, peer: {} }; // per system and connection count: the median run
const runs = { kefu: {}, peer: {} }; // every run, in order
const fixed = {};
let reload = null;

// The two systems take turns, one run each per round (kefu first in odd rounds, the peer first
// in even ones), so that each ratio compares two runs at most a minute apart: this machine's speed
// drifts over an hour by more than the difference a ratio is asked to show. A fresh server
// per run: its idle RSS is then really idle (a garbage collector shrinking the heap of an
// earlier run would make the per-connection figure lie).
const systems = (noPeer ? ['kefu'] : ['kefu', 'peer']).filter((w) => !process.env.BENCH_ONLY || process.env.BENCH_ONLY === w);
const median = (xs) => [...xs].sort((a, b) => a.answered_per_s - b.answered_per_s)[(xs.length - 1) >> 1];
for (const n of conns) {
  for (let i = 0; i < rounds; i++) {
    for (const who of i % 2 ? [...systems].reverse() : systems) {
      const s = await (who === 'kefu' ? startKefu() : startPeer());
      (runs[who][n] ||= []).push(load(s, who, n));
      await stop(s);
    }
  }
  for (const who of systems) results[who][n] = median(runs[who][n]);
}

// Latency at the same offered load: half of the slower system's closed-loop throughput at
// the smallest connection count, as a fixed rate, for both.
const n0 = conns[0];
const maxes = Object.values(results).map((r) => r[n0]?.answered_per_s).filter((x) => x > 0);
const rate = Math.max(100, Math.round(Math.min(...maxes) / 2 / 100) * 100);
for (const who of noPeer ? ['kefu'] : ['kefu', 'peer']) {
  if (!results[who][n0]) continue;
  const s = await (who === 'kefu' ? startKefu() : startPeer());
  fixed[who] = load(s, who, n0, ['-r', String(rate)]);
  await stop(s);
}

// The issue's latency target (p99 < 10 ms while the generator runs beside it) as a figure:
// kefu at rising fixed rates over the smallest connection count, BENCH_SWEEP_RUNS (3) runs of
// 5 s at each, until the median run's p99 reaches 10 ms or it answers fewer than 97 % of the
// offered messages (BENCH_SWEEP=0 skips it). The median, not one run: a single stall of 20-70
// ms (a slow sync of this machine's shared disk, or its host pausing our CPUs) decides a 5 s
// window's p99 (docs/performance.md, ninth session).
const sweep = [];
const sweepRuns = Math.max(1, Number(process.env.BENCH_SWEEP_RUNS || 3));
const byP99 = (xs) => [...xs].sort((a, b) => a.p99_ms - b.p99_ms)[(xs.length - 1) >> 1];
if (results.kefu[n0] && process.env.BENCH_SWEEP !== '0') {
  const s = await startKefu();
  for (const r of [2000, 4000, 6000, 8000, 10000, 12500, 15000, 17500, 20000]) {
    const xs = [];
    for (let i = 0; i < sweepRuns; i++) xs.push(load(s, 'kefu-sweep', n0, ['-r', String(r)], 5));
    const x = byP99(xs);
    sweep.push({ rate: r, runs: xs, ...x });
    if (x.p99_ms >= 10 || x.answered_per_s < 0.97 * r) break;
  }
  await stop(s);
}

// Hot reload of the same knowledge under closed-loop load: touch the kb file a third of the
// way in; kefu rebuilds in the background and swaps between two events of its loop.
if (results.kefu[n0]) {
  const s = await startKefu();
  const kbFile = path.join(dir, 'kb', 'banking77.md');
  reload = load(s, 'kefu-reload', n0, ['--touch', kbFile, '--touch-at', String(secs / 3)]);
  const m = /event=reload result=ok/.test(s.log);
  reload.reloaded = m;
  const t = [...s.log.matchAll(/^(\S+) \S+ event=(?:knowledge_loaded|reload) /gm)].map((x) => x[1]);
  reload.reload_lines = t;
  await stop(s);
}

const f = (x, d = 1) => (x === undefined || x === null || Number.isNaN(x) ? '—' : Number(x).toFixed(d));
console.log(`\nServer: bench/loadgen (C, lws client) on loopback; knowledge = BANKING77 train (77 entries),`);
console.log(`questions = BANKING77 test; closed loop (next question when the reply arrives), ${secs} s per run;`);
console.log(separateAcks ? 'an ack frame before each reply (BENCH_ACKS=separate)' : 'acks folded into the replies (hello fold_acks, as the widget asks; BENCH_ACKS=separate for an ack frame before each)');
console.log('system   conns   answered/s   p50_ms   p99_ms  p999_ms  errors  closed  rss_idle  rss_conns  kb/conn  rss_after  cpu_us/ans  cores  gen_us/ans');
const ratios = {}; // per connection count: kefu's throughput over the peer's, round by round
for (const n of conns) {
  for (let i = 0; i < rounds; i++) {
    for (const who of ['kefu', 'peer']) {
      const r = runs[who][n]?.[i];
      if (!r) continue;
      console.log(`${(who === 'peer' ? 'nlp.js' : who).padEnd(8)} ${String(n).padStart(5)}  ${f(r.answered_per_s, 0).padStart(11)}  ` +
        `${f(r.p50_ms, 2).padStart(7)}  ${f(r.p99_ms, 2).padStart(7)}  ${f(r.p999_ms, 2).padStart(7)}  ` +
        `${String(r.errors + r.conn_errors).padStart(6)}  ${String(r.closed_early).padStart(6)}  ` +
        `${f(r.rss_idle_mb).padStart(8)}  ${f(r.rss_conns_mb).padStart(9)}  ${f(r.per_conn_kb > 0 ? r.per_conn_kb : null).padStart(7)}  ${f(r.rss_load_mb).padStart(9)}  ` +
        `${f(r.server_cpu_us >= 0 ? r.server_cpu_us : null).padStart(10)}  ${f(r.server_cores >= 0 ? r.server_cores : null, 2).padStart(5)}  ${f(r.gen_cpu_us).padStart(10)}`);
    }
    const k = runs.kefu[n]?.[i];
    const p = runs.peer[n]?.[i];
    if (k && p) {
      (ratios[n] ||= []).push(k.answered_per_s / p.answered_per_s);
      console.log(`         ratio  throughput ${f(k.answered_per_s / p.answered_per_s, 2)}x the peer, ` +
        `p99 ${f(p.p99_ms / k.p99_ms, 2)}x lower, RSS with the connections ${f(p.rss_conns_mb / k.rss_conns_mb, 1)}x smaller, ` +
        `server CPU per answer ${f(p.server_cpu_us / k.server_cpu_us, 2)}x less (round ${i + 1})`);
    }
  }
}
if (Object.keys(fixed).length) {
  console.log(`\nSame offered load: ${rate} questions/s in all over ${n0} connections (half the slower system's maximum)`);
  for (const who of ['kefu', 'peer']) {
    const r = fixed[who];
    if (!r) continue;
    console.log(`${(who === 'peer' ? 'nlp.js' : who).padEnd(8)} answered ${f(r.answered_per_s, 0)}/s, p50 ${f(r.p50_ms, 2)} ms, ` +
      `p99 ${f(r.p99_ms, 2)} ms, p999 ${f(r.p999_ms, 2)} ms, max ${f(r.max_ms, 2)} ms, skipped ${r.skipped}, ` +
      `server CPU ${f(r.server_cpu_us)} µs per answer (${f(r.server_cores, 2)} cores)`);
  }
}
if (sweep.length) {
  console.log(`\nkefu at rising fixed rates over ${n0} connections, ${sweepRuns} runs of 5 s at each, the median run (by p99) shown ` +
    '(the generator beside it):');
  for (const r of sweep) {
    console.log(`  offered ${String(r.rate).padStart(5)}/s: answered ${f(r.answered_per_s, 0)}/s, p50 ${f(r.p50_ms, 2)} ms, ` +
      `p99 ${f(r.p99_ms, 2)} ms (runs: ${r.runs.map((x) => f(x.p99_ms, 2)).join(', ')}), p999 ${f(r.p999_ms, 2)} ms, ` +
      `server ${f(r.server_cpu_us)} µs and generator ${f(r.gen_cpu_us)} µs of CPU per answer`);
  }
}
if (reload) {
  console.log(`\nHot reload under load (${n0} connections, closed loop, kb file touched at ${f(secs / 3)} s):`);
  console.log(`  reloaded: ${reload.reloaded ? 'yes' : 'NO'}; connections dropped: ${reload.closed_early}; ` +
    `longest pause in answers after the touch ${f(reload.max_gap_after_touch_ms)} ms (whole run ${f(reload.max_gap_ms)} ms); ` +
    `slowest 100 ms window ${reload.min_100ms} answers; ${f(reload.answered_per_s, 0)}/s overall, p99 ${f(reload.p99_ms, 2)} ms, max ${f(reload.max_ms, 2)} ms`);
}
const big = results.kefu[Math.max(...conns)];
const k0 = results.kefu[n0];
console.log('\ntargets (issue 8): 10,000 connections with RSS < 100 MB; >= 20,000 answered/s with p99 < 10 ms;');
console.log('                   >= 3x the peer\'s throughput at no worse p99');
if (big) console.log(`  kefu RSS with ${big.conns} connections: ${f(big.rss_conns_mb)} MB (after load ${f(big.rss_load_mb)} MB)`);
if (k0) console.log(`  kefu best closed-loop throughput: ${f(Math.max(...Object.values(runs.kefu).flat().map((r) => r.answered_per_s)), 0)}/s`);
if (sweep.length) {
  const ok = sweep.filter((r) => r.p99_ms < 10 && r.answered_per_s >= 0.97 * r.rate);
  console.log(`  kefu highest fixed rate with p99 < 10 ms (median of ${sweepRuns} runs): ${ok.length ? `${ok[ok.length - 1].rate}/s (p99 ${f(ok[ok.length - 1].p99_ms, 2)} ms)` : `none (p99 ${f(sweep[0].p99_ms, 2)} ms at ${sweep[0].rate}/s)`}`);
}
for (const n of conns) {
  const r = ratios[n];
  if (r) console.log(`  throughput ratio at ${n} connections, round by round: ${r.map((x) => `${f(x, 2)}x`).join(', ')}` +
    (r.length > 1 ? ` (lowest ${f(Math.min(...r), 2)}x)` : ''));
}
