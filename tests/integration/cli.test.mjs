// The kefu command line, run as a user would: exit codes, file:line errors, JSON output.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
const kefu = process.env.KEFU_BIN || path.join(root, 'build', 'kefu');
const fix = path.join(root, 'tests', 'fixtures', 'engine');
const mult = Number(process.env.KEFU_TIMEOUT_MULT || 1);

function run(args, input) {
  const r = spawnSync(kefu, args, { cwd: root, encoding: 'utf8', input, timeout: 60000 * mult });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function tmpKnowledge(files) {
  const dir = mkdtempSync(path.join(tmpdir(), 'kefu-cli-'));
  mkdirSync(path.join(dir, 'kb'));
  mkdirSync(path.join(dir, 'intents'));
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
  return dir;
}

test('check accepts the shipped knowledge', () => {
  const r = run(['check']);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^kefu check: \d+ entries, \d+ phrasings, \d+ rules, \d+ test cases: ok$/m);
});

test('check reports every error as file:line and exits 1', () => {
  const dir = tmpKnowledge({
    'kb/a.md': '<a id = "x"></a>\n# ? one\n```\nA\n```\n\n<a id = "x"></a>\n# ? two\n```\nB\n```\n\n# ? no answer\n',
    'intents/r.rules': '[r]\npattern = (unclosed\naction = reply\nreply = hi\n[s]\nwhat = 1\n',
  });
  try {
    const r = run(['check', dir]);
    assert.equal(r.code, 1);
    const kb = path.join(dir, 'kb', 'a.md');
    const rules = path.join(dir, 'intents', 'r.rules');
    assert.ok(r.err.includes(`${kb}:8: duplicate id 'x' (first defined at ${kb}:2)`), r.err);
    assert.ok(r.err.includes(`${rules}:2: pattern error at offset 9: missing closing parenthesis`), r.err);
    assert.match(r.err, new RegExp(`${rules.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:6: `));
    assert.ok(r.err.includes(`${kb}:13: entry without an answer`), r.err);
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test('check --tests fails below the required share', () => {
  const r = run(['check', '--tests', '--kb', path.join(fix, 'kb'), '--intents', path.join(fix, 'intents')]);
  assert.equal(r.code, 0, r.out + r.err);
  assert.match(r.out, /^7 of 7 tests passed \(100\.0%, required 100\.0%\)$/m);
  const dir = tmpKnowledge({
    'kb/a.md': readFileSync(path.join(fix, 'kb', 'returns.md'), 'utf8'),
    'kb/t.test': '退货\nreturn-how\n\n保修期多长\nrefund-time\n',
    'intents/none.rules': '',
  });
  try {
    const bad = run(['check', dir, '--tests', '--min', '0.9']);
    assert.equal(bad.code, 1);
    assert.match(bad.out, /t\.test:4: "保修期多长": expected refund-time, got warranty-period/);
    assert.match(bad.out, /^1 of 2 tests passed \(50\.0%, required 90\.0%\)$/m);
    assert.equal(run(['check', dir, '--tests', '--min', '0.5']).code, 0);
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test('ask --json explains a match', () => {
  const r = run(['ask', '--json', '--kb', path.join(fix, 'kb'), '--intents', path.join(fix, 'intents'), '我的订单 202401010001234 退款多久到账？']);
  assert.equal(r.code, 0, r.err);
  const j = JSON.parse(r.out);
  assert.equal(j.decision, 'answer');
  assert.equal(j.entry, 'refund-time');
  assert.equal(j.lang, 'zh');
  assert.equal(j.slots.order, '202401010001234');
  assert.ok(j.normalized.includes('退款多久到账'));
  assert.ok(j.tokens.split(' ').includes('退款'));
  assert.ok(j.candidates.length >= 2 && j.candidates[0].entry === 'refund-time');
  assert.ok(j.candidates[0].score > j.candidates[1].score);
  assert.ok(j.features.length > 0);
  assert.match(j.answer, /1–3 个工作日/);
});

test('ask refuses bad input with a message, never a crash', () => {
  for (const q of ['', '   ', '！？😀']) {
    const r = run(['ask', q]);
    assert.equal(r.code, 1);
    assert.match(r.err, /cannot match this question: empty input/);
  }
  const r = run(['ask', '"退货" OR NEAR(发票, 2) AND t:^*']);
  assert.equal(r.code, 0, r.err);
  assert.equal(run(['ask']).code, 2);
  assert.equal(run(['ask', 'x', '--bogus']).code, 2);
});

test('eval --train/--test --json prints the documented keys', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'kefu-eval-'));
  try {
    const train = ['where is my card\tcard', 'my card has not arrived\tcard', 'card not here yet\tcard',
      'how do i top up\ttopup', 'add money to my account\ttopup', 'top up with a bank transfer\ttopup'];
    const t = ['has my card arrived\tcard', 'top up my account\ttopup', 'what is the capital of peru\toos'];
    writeFileSync(path.join(dir, 'train.tsv'), train.join('\n') + '\n');
    writeFileSync(path.join(dir, 'test.tsv'), t.join('\n') + '\n');
    const r = run(['eval', '--json', '--train', path.join(dir, 'train.tsv'), '--test', path.join(dir, 'test.tsv'), '--val', path.join(dir, 'test.tsv')]);
    assert.equal(r.code, 0, r.err);
    const j = JSON.parse(r.out);
    for (const k of ['n', 'accuracy', 'median_us', 'p99_us', 'in_scope_accuracy', 'oos_recall', 'threshold'])
      assert.equal(typeof j[k], 'number', k);
    assert.equal(j.n, 3);
    assert.equal(j.in_scope_accuracy, 1);
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test('import turns a TSV export into a kb file that loads', () => {
  const dir = tmpKnowledge({ 'intents/none.rules': '' });
  try {
    writeFileSync(path.join(dir, 'in.tsv'), 'Question\tAnswer\n怎么退货\t在订单页申请。\n如何退货\t在订单页申请。\nWarranty?\tOne year.\n');
    const r = run(['import', path.join(dir, 'in.tsv'), '--prefix', 'shop', '-o', path.join(dir, 'kb', 'faq.md')]);
    assert.equal(r.code, 0, r.err);
    const md = readFileSync(path.join(dir, 'kb', 'faq.md'), 'utf8');
    assert.match(md, /<a id = "shop-1"><\/a>\n\n# \? 怎么退货\n- 如何退货\n/);
    const c = run(['check', dir]);
    assert.equal(c.code, 0, c.err);
    assert.match(c.out, /2 entries, 3 phrasings/);
    const bad = run(['import', path.join(dir, 'kb', 'faq.md')]);
    assert.equal(bad.code, 1);
    assert.match(bad.err, /faq\.md:\d+: /);
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test('chat answers questions from standard input', () => {
  const r = run(['chat', '--kb', path.join(fix, 'kb'), '--intents', path.join(fix, 'intents')], '退款多久到账\n转人工\n');
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /bot \[refund-time\]:\n退款审核通过后/);
  assert.match(r.out, /bot \[handoff: asked\]: 好的，正在为您转接人工客服。/);
});

test('make install honours PREFIX and DESTDIR', () => {
  const dest = mkdtempSync(path.join(tmpdir(), 'kefu-install-'));
  try {
    const b = path.relative(root, path.dirname(kefu));
    const r = spawnSync('make', ['-s', 'install', `B=${b}`, `DESTDIR=${dest}`, 'PREFIX=/opt/kefu'], { cwd: root, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    for (const f of ['bin/kefu', 'share/kefu/web/index.html', 'share/kefu/kb/synonyms.txt',
      'share/kefu/intents/handoff.rules', 'etc/kefu/kefu.conf.example', 'share/kefu/kefu.service'])
      assert.ok(readFileSync(path.join(dest, 'opt/kefu', f)).length > 0, f);
    const c = spawnSync(path.join(dest, 'opt/kefu/bin/kefu'), ['check', path.join(dest, 'opt/kefu/share/kefu')], { encoding: 'utf8' });
    assert.equal(c.status, 0, c.stderr);
  } finally {
    rmSync(dest, { recursive: true });
  }
});

test('kefu.conf.example is what `kefu config --example` prints, and it checks clean', () => {
  const r = run(['config', '--example']);
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out, readFileSync(path.join(root, 'kefu.conf.example'), 'utf8'),
    'regenerate it: build/kefu config --example > kefu.conf.example');
  assert.equal(run(['config', '--check', path.join(root, 'kefu.conf.example')]).code, 0);
});
