// Matching benchmark: kefu (`kefu eval --train/--test --json`) against nlp.js (the peer in
// bench/peer-nlpjs) on BANKING77 and CLINC150, same splits, same machine, same run.
// Prints one table and the ratios. Data: ../shared/data (see its README for honest use).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const data = process.env.KEFU_DATA || path.resolve(root, '..', 'shared', 'data');
const kefu = path.join(root, process.env.KEFU_BUILD || 'build', 'kefu');
const peerDir = path.join(root, 'bench', 'peer-nlpjs');
const skipPeer = process.env.KEFU_BENCH_NO_PEER === '1';

const sets = [
  { name: 'BANKING77', train: 'banking77/train.tsv', test: 'banking77/test.tsv' },
  { name: 'CLINC150', train: 'clinc150/train.tsv', test: 'clinc150/test.tsv', val: 'clinc150/val.tsv' },
];

function run(cmd, args, opts = {}) {
  const out = execFileSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 26, ...opts });
  const line = out.trim().split('\n').filter((l) => l.startsWith('{')).pop();
  return JSON.parse(line);
}

if (!existsSync(path.join(data, 'banking77'))) {
  console.error(`bench: no data at ${data} (set KEFU_DATA)`);
  process.exit(1);
}

const fmt = (x, d = 3) => (x === undefined || x === null ? '—' : Number(x).toFixed(d));
const rows = [];
for (const s of sets) {
  const args = ['eval', '--json', '--train', path.join(data, s.train), '--test', path.join(data, s.test)];
  if (s.val) args.push('--val', path.join(data, s.val));
  const k = run(kefu, args);
  let p = null;
  if (!skipPeer) {
    const pargs = ['eval.mjs', '--train', path.join(data, s.train), '--test', path.join(data, s.test)];
    if (s.val) pargs.push('--val', path.join(data, s.val), '--criterion', 'eer');
    try {
      p = run('node', pargs, { cwd: peerDir });
    } catch (e) {
      console.error(`bench: nlp.js peer failed on ${s.name}: ${e.message}`);
    }
  }
  rows.push({ set: s.name, kefu: k, peer: p });
}

console.log('\nMatching: kefu vs nlp.js 4.27 (knowledge base = train split, figures on test split)\n');
console.log('set        system   top-1   in-scope  oos-rec  median_us  p99_us   ready_s  learned_s  rss_mb');
for (const r of rows) {
  for (const [name, x] of [['kefu', r.kefu], ['nlp.js', r.peer]]) {
    if (!x) continue;
    console.log(
      `${r.set.padEnd(10)} ${name.padEnd(8)} ${fmt(x.accuracy).padStart(6)}  ${fmt(x.in_scope_accuracy).padStart(8)}  ${fmt(x.oos_recall).padStart(7)}  ` +
        `${fmt(x.median_us, 1).padStart(9)}  ${fmt(x.p99_us, 1).padStart(6)}  ${fmt(x.load_s ?? x.train_s, 2).padStart(7)}  ` +
        `${fmt(x.learned_s ?? x.train_s, 2).padStart(9)}  ${fmt(x.rss_mb, 0).padStart(6)}`,
    );
  }
  if (r.peer) {
    const speed = r.peer.median_us / r.kefu.median_us;
    const p99 = r.peer.p99_us / r.kefu.p99_us;
    console.log(
      `${''.padEnd(10)} ratio    accuracy ${fmt(r.kefu.accuracy / r.peer.accuracy, 2)}x, ` +
        `median ${fmt(speed, 1)}x faster, p99 ${fmt(p99, 1)}x faster, ` +
        `ready ${fmt((r.peer.train_s) / (r.kefu.learned_s), 1)}x sooner`,
    );
  }
}
console.log('\ntargets: BANKING77 top-1 >= 0.90; CLINC150 in-scope >= 0.88 and oos recall >= 0.80;');
console.log('         median <= 25 us, p99 <= 150 us; first answer <= 0.2 s; learned layer <= 5 s');
