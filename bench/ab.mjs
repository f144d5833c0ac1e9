// Two builds of kefu side by side (`node bench/ab.mjs OLD_KEFU NEW_KEFU`): both servers run at
// once on the same BANKING77 knowledge, each under its own bench/loadgen in a closed loop, so
// whatever slows the shared machine slows both; each run starts them in the other order. The
// ratio of their throughputs (NEW / OLD) is the measure: on this machine runs one after the
// other moved ±15 % from one to the next, more than most changes being judged
// (docs/performance.md, sixth session). Prints each run and the mean. Loopback only, bounded.
//
// Environment: KEFU_DATA (../shared/data), AB_RUNS (6), AB_CONNS (500 per server), AB_TIME
// (8 s per run).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runLoadgen, startServer, stopServer } from './serve.mjs';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const data = process.env.KEFU_DATA || path.resolve(root, '..', 'shared', 'data');
const loadgen = path.join(root, 'bench', 'loadgen');
const runs = Number(process.env.AB_RUNS || 6);
const conns = Number(process.env.AB_CONNS || 500);
const secs = Number(process.env.AB_TIME || 8);
const train = path.join(data, 'banking77', 'train.tsv');
const test = path.join(data, 'banking77', 'test.tsv');
const LIMITS = ['rate_per_conn=100000', 'burst_per_conn=100000', 'rate_per_addr=1000000',
  'burst_per_addr=1000000', 'max_conns_per_addr=30000', 'max_conns=30000', 'max_queue=64',
  'fallbacks_to_handoff=100', 'learned=2'];

const bins = process.argv.slice(2).map((b) => path.resolve(b));
if (bins.length !== 2 || !bins.every((b) => existsSync(b))) {
  console.error('usage: node bench/ab.mjs OLD_KEFU NEW_KEFU  (two kefu binaries)');
  process.exit(2);
}
if (!existsSync(train) || !existsSync(loadgen)) {
  console.error(`ab: needs BANKING77 at ${data} (KEFU_DATA) and bench/loadgen (make bench/loadgen)`);
  process.exit(2);
}

const dir = mkdtempSync(path.join(tmpdir(), 'kefu-ab-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
execFileSync(path.join(root, 'bench', 'mkkb.sh'), [train, dir], { env: { ...process.env, KEFU: bins[0] } });

let ndbs = 0;
const start = (bin) => startServer(dir, bin, ['serve', '--listen', '127.0.0.1:0', '--db',
  path.join(dir, `k${++ndbs}.db`), '--kb', path.join(dir, 'kb'), '--intents', path.join(dir, 'intents'),
  '--web', path.join(root, 'web'), '--set', `cache_dir=${dir}`, ...LIMITS.flatMap((kv) => ['--set', kv])]);

// One loadgen, asynchronously (both run at once); resolves its JSON line.
const load = (s) => runLoadgen(loadgen, ['-u', s.url, '-f', test, '-c', String(conns), '-d', String(secs),
  '-w', '1', '-p', String(s.pid), '--json'], secs);

const names = bins.map((b) => path.basename(b) === 'kefu' ? path.relative(process.cwd(), b) || b : path.basename(b));
console.log(`ab: ${names[0]} (old) against ${names[1]} (new), ${runs} runs of ${secs} s, ${conns} connections each, side by side`);
const ratios = [];
const cpu = [[], []];
for (let r = 0; r < runs; r++) {
  const order = r % 2 ? [1, 0] : [0, 1];
  const servers = [];
  for (const i of order) servers[i] = await start(bins[i]);
  const res = await Promise.all([load(servers[0]), load(servers[1])]);
  for (const s of servers) await stopServer(s);
  for (const x of res) {
    if (x.errors || x.conn_errors || x.closed_early) throw new Error(`ab: errors in a run: ${JSON.stringify(x)}`);
  }
  const ratio = res[1].answered_per_s / res[0].answered_per_s;
  ratios.push(ratio);
  cpu[0].push(res[0].server_cpu_us);
  cpu[1].push(res[1].server_cpu_us);
  console.log(`run ${r + 1} (${order[0] ? 'new' : 'old'} started first): old ${res[0].answered_per_s.toFixed(0)}/s`
    + ` (${res[0].server_cpu_us.toFixed(1)} µs of server CPU per answer), new ${res[1].answered_per_s.toFixed(0)}/s`
    + ` (${res[1].server_cpu_us.toFixed(1)} µs): new/old ${ratio.toFixed(3)}`);
}
const mean = (a) => a.reduce((x, y) => x + y, 0) / a.length;
console.log(`ab: throughput new/old mean ${mean(ratios).toFixed(3)} (min ${Math.min(...ratios).toFixed(3)},`
  + ` max ${Math.max(...ratios).toFixed(3)}; new ahead in ${ratios.filter((x) => x > 1).length} of ${runs});`
  + ` server CPU per answer ${mean(cpu[1]).toFixed(1)} against ${mean(cpu[0]).toFixed(1)} µs`);
