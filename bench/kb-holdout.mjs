// Held-out phrasings of the shipped knowledge (docs/matching.md, "Choices"): every alternate
// phrasing is asked of the knowledge loaded without it, in four folds (the k-th alternate of
// each language version goes to fold k mod 4; main questions always stay). All of them are
// in scope, so this measures how well new wordings find their entry, not refusals.
//   node bench/kb-holdout.mjs [KEFU_BIN] [FOLDS]
// Only kb/*.md, kb/synonyms.txt and intents/*.rules are read: never the *.test files.
// Phrasings of out-of-scope entries (`decision = fallback`) are expected to fall back and
// are counted apart, so the in-scope figure stays comparable with knowledge without them.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, writeFileSync, copyFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = process.argv[2] || join(ROOT, 'build/kefu');
const FOLDS = Number(process.argv[3] || 4);
const KB = join(ROOT, 'kb');
const INTENTS = join(ROOT, 'intents');

// Splits one kb file for fold f: the file without the fold's alternates, and those
// alternates as [phrasing, entry id] cases.
function split(text, f) {
  const out = [];
  const cases = [];
  const oos = new Set();
  let cur = null;
  for (const line of text.split('\n')) {
    const a = /^<a id = "([^"]+)"><\/a>/.exec(line);
    if (a) cur = a[1];
    if (cur && /^[-*+] *decision *= *fallback *$/i.test(line.trim())) oos.add(cur);
  }
  let id = null;
  let inAlts = false;
  let k = 0;
  for (const line of text.split('\n')) {
    const a = /^<a id = "([^"]+)"><\/a>/.exec(line);
    if (a) id = a[1];
    if (/^#{1,2} \? /.test(line)) {
      inAlts = true;
      k = 0;
      out.push(line);
      continue;
    }
    if (inAlts) {
      if (/^[-*] /.test(line)) {
        if (k++ % FOLDS === f) cases.push([line.slice(2).trim(), oos.has(id) ? '@fallback' : id]);
        else out.push(line);
        continue;
      }
      if (line.trim() !== '') inAlts = false;
    }
    out.push(line);
  }
  return { text: out.join('\n'), cases };
}

let right = 0;
let total = 0;
let oosRight = 0;
let oosTotal = 0;
const tmp = mkdtempSync(join(tmpdir(), 'kefu-holdout-'));
try {
  for (let f = 0; f < FOLDS; f++) {
    const dir = join(tmp, `f${f}`);
    for (const d of ['kb', 'intents', 'cases']) mkdirSync(join(dir, d), { recursive: true });
    if (existsSync(join(KB, 'synonyms.txt'))) copyFileSync(join(KB, 'synonyms.txt'), join(dir, 'kb/synonyms.txt'));
    for (const r of readdirSync(INTENTS).filter((n) => n.endsWith('.rules'))) copyFileSync(join(INTENTS, r), join(dir, 'intents', r));
    const cases = [];
    for (const m of readdirSync(KB).filter((n) => n.endsWith('.md')).sort()) {
      const s = split(readFileSync(join(KB, m), 'utf8'), f);
      writeFileSync(join(dir, 'kb', m), s.text);
      cases.push(...s.cases);
    }
    const inScope = cases.filter(([, id]) => id !== '@fallback');
    const outScope = cases.filter(([, id]) => id === '@fallback');
    const write = (name, cs) => writeFileSync(join(dir, 'cases', name), cs.map(([q, id]) => `${q}\n${id}\n`).join('\n'));
    write('holdout.test', inScope);
    if (outScope.length) write('oos-holdout.test', outScope);
    const out = execFileSync(BIN, ['eval', '--kb', join(dir, 'kb'), '--intents', join(dir, 'intents'), '--cases', join(dir, 'cases')], { encoding: 'utf8', maxBuffer: 64 << 20 });
    const m = /total: (\d+) of (\d+) right/.exec(out);
    if (!m) throw new Error(`fold ${f}: no total in\n${out}`);
    const oosWrong = out.split('\n').filter((l) => l.includes('oos-holdout.test:')).length;
    const r = Number(m[1]) - (outScope.length - oosWrong);
    right += r;
    total += inScope.length;
    oosRight += outScope.length - oosWrong;
    oosTotal += outScope.length;
    console.log(`fold ${f}: ${r} of ${inScope.length}` + (outScope.length ? `, out of scope ${outScope.length - oosWrong} of ${outScope.length}` : ''));
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
if (oosTotal) console.log(`out-of-scope phrasings: ${oosRight} of ${oosTotal} fall back (${(100 * oosRight / oosTotal).toFixed(1)} %)`);
console.log(`held-out phrasings: ${right} of ${total} right (${(100 * right / total).toFixed(1)} %)`);
