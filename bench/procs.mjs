// One kefu or two (`node bench/procs.mjs`): is one event loop the limit on this machine? The
// same load goes to one server, or split in halves between two servers side by side (each
// with its own database and its own bench/loadgen, as SO_REUSEPORT processes would share the
// connections, less the cost of sharing one database). In a closed loop (rate 0) the figure is
// the total answered per second; at a fixed rate, the p99 of all the answers together (from
// the generators' --trace files). The two set-ups take turns, PROCS_RUNS times per rate.
// Loopback only, bounded.
//
// With PROCS_SHARED=1 the two share one database file instead (SQLite's WAL between two
// processes: every commit takes the one write lock), as SO_REUSEPORT processes would.
//
// Environment: KEFU_DATA (../shared/data), KEFU (build/kefu), PROCS_RUNS (3), PROCS_CONNS (1000
// in all), PROCS_TIME (8 s per run), PROCS_RATES ("0 6000": 0 is a closed loop), PROCS_SHARED.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runLoadgen, startServer, stopServer } from './serve.mjs';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const data = process.env.KEFU_DATA || path.resolve(root, '..', 'shared', 'data');
const kefu = path.resolve(process.env.KEFU || path.join(root, 'build', 'kefu'));
const loadgen = path.join(root, 'bench', 'loadgen');
const runs = Number(process.env.PROCS_RUNS || 3);
const conns = Number(process.env.PROCS_CONNS || 1000);
const secs = Number(process.env.PROCS_TIME || 8);
const rates = (process.env.PROCS_RATES || '0 6000').split(/\s+/).filter(Boolean).map(Number);
const train = path.join(data, 'banking77', 'train.tsv');
const test = path.join(data, 'banking77', 'test.tsv');
const LIMITS = ['rate_per_conn=100000', 'burst_per_conn=100000', 'rate_per_addr=1000000',
  'burst_per_addr=1000000', 'max_conns_per_addr=30000', 'max_conns=30000', 'max_queue=64',
  'fallbacks_to_handoff=100', 'learned=2'];

if (!existsSync(train) || !existsSync(loadgen) || !existsSync(kefu)) {
  console.error(`procs: needs BANKING77 at ${data} (KEFU_DATA), bench/loadgen and ${kefu}`);
  process.exit(2);
}

const dir = mkdtempSync(path.join(tmpdir(), 'kefu-procs-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
execFileSync(path.join(root, 'bench', 'mkkb.sh'), [train, dir], { env: { ...process.env, KEFU: kefu } });

const shared = process.env.PROCS_SHARED === '1';
let ndbs = 0;
const start = (db) => startServer(dir, kefu, ['serve', '--listen', '127.0.0.1:0', '--db',
  db, '--kb', path.join(dir, 'kb'), '--intents', path.join(dir, 'intents'),
  '--web', path.join(root, 'web'), '--set', `cache_dir=${dir}`, ...LIMITS.flatMap((kv) => ['--set', kv])]);

let ntraces = 0;
// One loadgen on server s with c connections (rate r/s in all, 0: closed loop); resolves its
// JSON line and, at a fixed rate, the round trips of its trace.
async function load(s, c, r) {
  const trace = path.join(dir, `trace.${++ntraces}`);
  const res = await runLoadgen(loadgen, ['-u', s.url, '-f', test, '-c', String(c), '-d', String(secs),
    '-w', '1', '-p', String(s.pid), '--json', ...(r ? ['-r', String(r), '--trace', trace] : [])], secs);
  if (res.errors || res.conn_errors || res.closed_early) {
    throw new Error(`procs: errors in a run: ${JSON.stringify(res)}`);
  }
  res.rtts = r ? readFileSync(trace, 'utf8').split('\n').filter((l) => l && l[0] !== '#')
    .map((l) => Number(l.split(' ')[1])) : [];
  rmSync(trace, { force: true });
  return res;
}

const p99 = (xs) => {
  const a = Float64Array.from(xs).sort();
  return a.length ? a[Math.max(0, Math.ceil(a.length * 0.99) - 1)] : NaN;
};

// n servers sharing the load; the totals of the run.
async function run(n, r) {
  const servers = [];
  const db = path.join(dir, `k${++ndbs}.db`);
  for (let i = 0; i < n; i++) servers.push(await start(shared ? db : path.join(dir, `k${ndbs}-${i}.db`)));
  const res = await Promise.all(servers.map((s) => load(s, conns / n, r / n)));
  for (const s of servers) await stopServer(s);
  const answered = res.reduce((a, x) => a + x.answered, 0);
  const perS = res.reduce((a, x) => a + x.answered_per_s, 0);
  const cpu = res.reduce((a, x) => a + x.server_cpu_us * x.answered, 0) / answered;
  const gen = res.reduce((a, x) => a + x.gen_cpu_us * x.answered, 0) / answered;
  return { perS, cpu, gen, p99: r ? p99(res.flatMap((x) => x.rtts)) : Math.max(...res.map((x) => x.p99_ms)) };
}

console.log(`procs: ${conns} connections in all on one kefu or on two${shared ? ' sharing one database' : ''}, ${runs} runs of ${secs} s per set-up and rate, taking turns`);
for (const r of rates) {
  const got = { 1: [], 2: [] };
  for (let k = 0; k < runs; k++) {
    for (const n of k % 2 ? [2, 1] : [1, 2]) {
      const x = await run(n, r);
      got[n].push(x);
      console.log(`${r ? `${r}/s` : 'closed loop'}, run ${k + 1}, ${n} kefu: ${x.perS.toFixed(0)} answered/s,`
        + ` p99 ${x.p99.toFixed(2)} ms${r ? ' (all answers)' : ' (the slower generator)'},`
        + ` server CPU ${x.cpu.toFixed(1)} µs and generator ${x.gen.toFixed(1)} µs per answer`);
    }
  }
  const med = (a) => { const b = [...a].sort((x, y) => x - y); return b[(b.length - 1) >> 1]; };
  for (const n of [1, 2]) {
    console.log(`procs: ${r ? `${r}/s` : 'closed loop'}, ${n} kefu: median ${med(got[n].map((x) => x.perS)).toFixed(0)} answered/s,`
      + ` p99 ${med(got[n].map((x) => x.p99)).toFixed(2)} ms, server CPU ${med(got[n].map((x) => x.cpu)).toFixed(1)} µs per answer`);
  }
}
