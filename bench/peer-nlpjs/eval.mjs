// Peer baseline for `make bench`: nlp.js (node-nlp 4.27.0) as an intent
// classifier on the same text<TAB>label data that kefu is measured on.
//
//   node eval.mjs --train TRAIN.tsv --test TEST.tsv [--val VAL.tsv]
//                 [--lang en|zh] [--threshold T] [--criterion sum|eer]
//                 [--warmup N]
//
// Prints one JSON line on stdout; everything else goes to stderr.
//
// What is measured:
// - Training: one nlp.js intent per train label (lines labelled `oos` are
//   skipped), NlpManager.train() timed as "train_s".
// - Answering: every test line goes through NlpManager.process(); each call
//   is timed with process.hrtime.bigint() -> "median_us", "p99_us"
//   (p99 = nearest rank). Before timing, the first N train utterances
//   (--warmup, default 200) are processed once so JIT warm-up is not counted;
//   no test or val text is used for that.
// - A line is refused when nlp.js answers intent 'None' or its score is below
//   the threshold. nlp.js's own Nlp-level cut (default 0.5, which rewrites the
//   answer to None) is switched off (threshold: 0 below) so that raw scores are
//   seen and the threshold is ours:
//     * --threshold T given: T is used as is (e.g. 0.5 = nlp.js's default);
//     * else --val given: T is chosen on val. Candidates are 0 and every
//       score seen on val. Default criterion (--criterion sum): maximise
//       in_scope_accuracy + oos_recall on val (the sum of both recalls, i.e.
//       balanced accuracy between in-scope and out-of-scope); the smallest T
//       reaching the maximum wins, so the choice is deterministic.
//       --criterion eer: the smallest T whose val oos_recall >= val
//       in_scope_accuracy (an equal-error point). Val needs both in-scope
//       and `oos` lines for either to mean anything; otherwise T = 0;
//     * else T = 0: only nlp.js's own None classification refuses.
// - accuracy: top-1 over all test lines; for an `oos` line "correct" means
//   refused. With `oos` lines in test, also in_scope_accuracy (over in-scope
//   lines; a refusal counts wrong) and oos_recall (share of oos lines refused).
// - rss_mb: peak resident set size of this process (getrusage maxrss), MiB.
//
// Extras that are not intent classification are off: sentiment, NER
// (builtins, forceNER), model autosave/autoload, training log. The network
// starts from zero weights and nlp.js has no randomness in training or
// classification, so figures other than timings and RSS are reproducible.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

// nlp.js prints progress with console.log (e.g. "Compiling dictionary" for
// zh); keep stdout for the one JSON line.
console.log = (...args) => console.error(...args);

const require = createRequire(import.meta.url);
const { NlpManager } = require('node-nlp');
const NLPJS_VERSION = require('node-nlp/package.json').version;

const OOS = 'oos';

function usage(msg) {
  if (msg) process.stderr.write(`eval.mjs: ${msg}\n`);
  process.stderr.write(
    'usage: node eval.mjs --train TRAIN.tsv --test TEST.tsv [--val VAL.tsv] ' +
      '[--lang en|zh] [--threshold T] [--criterion sum|eer] [--warmup N]\n'
  );
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { lang: 'en', warmup: 200, criterion: 'sum' };
  for (let i = 0; i < argv.length; i += 1) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      i += 1;
      return argv[i];
    };
    if (a === '--train') opts.train = val();
    else if (a === '--test') opts.test = val();
    else if (a === '--val') opts.val = val();
    else if (a === '--lang') opts.lang = val();
    else if (a === '--threshold') opts.threshold = Number(val());
    else if (a === '--criterion') opts.criterion = val();
    else if (a === '--warmup') opts.warmup = Number.parseInt(val(), 10);
    else if (a === '-h' || a === '--help') usage();
    else usage(`unknown argument ${a}`);
  }
  if (!opts.train || !opts.test) usage('--train and --test are required');
  if (!['en', 'zh'].includes(opts.lang)) usage('--lang must be en or zh');
  if (!['sum', 'eer'].includes(opts.criterion)) {
    usage('--criterion must be sum or eer');
  }
  if (opts.threshold !== undefined && !Number.isFinite(opts.threshold)) {
    usage('--threshold must be a number');
  }
  if (!Number.isInteger(opts.warmup) || opts.warmup < 0) {
    usage('--warmup must be a non-negative integer');
  }
  return opts;
}

function readTsv(path) {
  const rows = [];
  const lines = readFileSync(path, 'utf8').split(/\r?\n/);
  for (let i = 0; i < lines.length; i += 1) {
    const line = lines[i];
    if (line.trim() === '') continue;
    const tab = line.lastIndexOf('\t');
    if (tab < 0) throw new Error(`${path}:${i + 1}: no TAB`);
    rows.push({ text: line.slice(0, tab), label: line.slice(tab + 1).trim() });
  }
  return rows;
}

const elapsedS = (t0) => Number(process.hrtime.bigint() - t0) / 1e9;

// Classifies each row; returns [{gold, intent, score}] and per-call µs.
async function classify(manager, lang, rows) {
  const preds = new Array(rows.length);
  const us = new Float64Array(rows.length);
  for (let i = 0; i < rows.length; i += 1) {
    const t0 = process.hrtime.bigint();
    const r = await manager.process(lang, rows[i].text);
    us[i] = Number(process.hrtime.bigint() - t0) / 1e3;
    preds[i] = { gold: rows[i].label, intent: r.intent, score: r.score };
  }
  return { preds, us };
}

const refused = (p, t) => p.intent === 'None' || !(p.score >= t);

function score(preds, t) {
  let correct = 0;
  let inN = 0;
  let inOk = 0;
  let oosN = 0;
  let oosOk = 0;
  for (const p of preds) {
    const ref = refused(p, t);
    if (p.gold === OOS) {
      oosN += 1;
      if (ref) oosOk += 1;
    } else {
      inN += 1;
      if (!ref && p.intent === p.gold) inOk += 1;
    }
  }
  correct = inOk + oosOk;
  return {
    n: preds.length,
    accuracy: preds.length ? correct / preds.length : 0,
    inN,
    oosN,
    inScopeAcc: inN ? inOk / inN : 0,
    oosRecall: oosN ? oosOk / oosN : 0,
  };
}

// See the header: 'sum' maximises in-scope accuracy + oos recall on val;
// 'eer' takes the smallest threshold where oos recall >= in-scope accuracy.
function chooseThreshold(preds, criterion) {
  const base = score(preds, 0);
  if (base.oosN === 0 || base.inN === 0) return 0;
  const cands = [0, ...new Set(preds.map((p) => p.score))]
    .filter((x) => Number.isFinite(x))
    .sort((a, b) => a - b);
  if (criterion === 'eer') {
    for (const t of cands) {
      const s = score(preds, t);
      if (s.oosRecall >= s.inScopeAcc) return t;
    }
    return cands[cands.length - 1];
  }
  let best = 0;
  let bestObj = -1;
  for (const t of cands) {
    const s = score(preds, t);
    const obj = s.inScopeAcc + s.oosRecall;
    if (obj > bestObj + 1e-12) {
      bestObj = obj;
      best = t;
    }
  }
  return best;
}

function quantileNearestRank(sorted, q) {
  if (sorted.length === 0) return 0;
  const k = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[k - 1];
}

function median(sorted) {
  const n = sorted.length;
  if (n === 0) return 0;
  const m = n >> 1;
  return n % 2 ? sorted[m] : (sorted[m - 1] + sorted[m]) / 2;
}

const round = (x, d) => Number(x.toFixed(d));

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const train = readTsv(opts.train);
  const test = readTsv(opts.test);
  const val = opts.val ? readTsv(opts.val) : null;

  const manager = new NlpManager({
    languages: [opts.lang],
    threshold: 0, // our own threshold is applied on the raw score
    autoSave: false,
    autoLoad: false,
    forceNER: false,
    calculateSentiment: false,
    nlu: { log: false },
    ner: { builtins: [] },
  });

  const inScopeTrain = train.filter((r) => r.label !== OOS);
  for (const r of inScopeTrain) manager.addDocument(opts.lang, r.text, r.label);

  const t0 = process.hrtime.bigint();
  await manager.train();
  const trainS = elapsedS(t0);

  let threshold = 0;
  if (!['sum', 'eer'].includes(opts.criterion)) {
    usage('--criterion must be sum or eer');
  }
  if (opts.threshold !== undefined) {
    threshold = opts.threshold;
  } else if (val) {
    const { preds } = await classify(manager, opts.lang, val);
    threshold = chooseThreshold(preds, opts.criterion);
  }

  if (opts.warmup > 0) {
    await classify(manager, opts.lang, inScopeTrain.slice(0, opts.warmup));
  }

  const { preds, us } = await classify(manager, opts.lang, test);
  const sorted = Float64Array.from(us).sort();
  const s = score(preds, threshold);

  const out = {
    system: `nlp.js ${NLPJS_VERSION}`,
    n: s.n,
    accuracy: round(s.accuracy, 4),
  };
  if (s.oosN > 0) {
    out.in_scope_accuracy = round(s.inScopeAcc, 4);
    out.oos_recall = round(s.oosRecall, 4);
  }
  out.threshold = round(threshold, 6);
  out.median_us = round(median(sorted), 1);
  out.p99_us = round(quantileNearestRank(sorted, 0.99), 1);
  out.train_s = round(trainS, 2);
  out.rss_mb = round(process.resourceUsage().maxRSS / 1024, 1);
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

main().catch((err) => {
  process.stderr.write(`eval.mjs: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
