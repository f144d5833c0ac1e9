// The knowledge page (web/kb/): explain a question as `kefu ask` does, show the last reload
// with its file:line errors, and never turn a question into markup.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { launch, startServer, stopServer, watch, screenshotPath, MULT } from './browser.mjs';
import { KEFU_BIN } from '../integration/helper.mjs';

let browser;
let s;
let failed = false;
const PW = 'correct-horse-1';
before(async () => {
  browser = await launch();
  s = await startServer({ kb: 'fixture' });
  execFileSync(KEFU_BIN, ['agent', 'add', 'editor', '--display', '编辑', '--db', s.db], { input: PW + '\n', stdio: ['pipe', 'pipe', 'pipe'] });
});
after(async () => {
  await browser?.close();
  await stopServer(s, failed);
});

// The page asks for a login (its endpoints answer 401 without the agent's token); fn(page)
// runs logged in, on the page at path.
async function withPage(path, fn) {
  const ctx = await browser.newContext({ locale: 'zh-CN', viewport: { width: 1100, height: 900 } });
  const page = await ctx.newPage();
  const problems = watch(page);
  try {
    await page.goto(`${s.url}/kb/`);
    await page.waitForSelector('#login:not([hidden])');
    assert.equal(await page.isVisible('#main'), false);
    await page.fill('#login-name', 'editor');
    await page.fill('#login-pw', PW);
    await page.press('#login-pw', 'Enter');
    await page.waitForSelector('#main:not([hidden])');
    assert.equal(await page.textContent('#who'), '编辑');
    if (path !== '/kb/') await page.goto(s.url + path);
    await fn(page);
    assert.deepEqual(problems, []);
  } catch (e) {
    failed = true;
    throw e;
  } finally {
    await ctx.close();
  }
}

test('explain: normalised text, tokens, rule with file:line, candidates, decision, answer', () => withPage('/kb/', async (page) => {
  await page.fill('#q', '我想投诉，发货太慢了');
  await page.press('#q', 'Enter');
  await page.waitForSelector('#explain dl');
  const dl = await page.$$eval('#explain dt', (d) => d.map((x) => [x.textContent, x.nextElementSibling.textContent]));
  const m = Object.fromEntries(dl);
  assert.match(m.rule, /^complaint \(.*basic\.rules:\d+\)$/);
  assert.match(m.decision, /^handoff .*\(complaint, urgent\)/);
  assert.ok(m.tokens.length > 0 && m.normalised.length > 0);
  await page.fill('#q', '什么时候发货');
  await page.press('#q', 'Enter');
  await page.waitForFunction(() => /delivery-time/.test(document.querySelector('#explain dl')?.textContent || ''));
  const first = await page.$$eval('#explain tbody tr', (r) => r.map((x) => [...x.cells].map((c) => c.textContent)));
  assert.equal(first[0][1], 'delivery-time');
  assert.equal(first[0][2], '多久能发货？');
  assert.match(await page.textContent('#explain pre.answer'), /48 小时内发货/);
  await page.screenshot({ path: screenshotPath('kb-page.png'), fullPage: true });
}));

test('a question with markup is shown as text', () => withPage(`/kb/?q=${encodeURIComponent('<img src=x onerror="window.__x=1">注入测试')}`, async (page) => {
  await page.waitForSelector('#explain dl');
  assert.equal(await page.$$eval('#explain img, #explain script', (n) => n.length), 0);
  assert.match(await page.textContent('#explain dl'), /<img src=x onerror=/);
  await page.fill('#q', '注入测试');
  await page.press('#q', 'Enter');
  await page.waitForSelector('#explain pre.answer');
  assert.match(await page.textContent('#explain pre.answer'), /<script>/); // the fixture's hostile answer, as text
  assert.equal(await page.$$eval('#explain img, #explain script, #explain a', (n) => n.length), 0);
  assert.equal(await page.evaluate(() => window.__x || window.__kefuXss), undefined);
}));

test('reload status: a broken edit shows its file:line errors; the fix clears them', () => withPage('/kb/', async (page) => {
  await page.waitForSelector('#reload p');
  const file = join(s.dir, 'kb', 'delivery.md');
  const orig = readFileSync(file, 'utf8');
  writeFileSync(file, orig + '\n<a id = "hostile-answer"></a>\n\n# ? 重复\n\n```markdown\nx\n```\n');
  await s.waitLog(/event=reload result=failed/);
  await page.click('#reload-refresh');
  await page.waitForSelector('#reload li', { timeout: 5000 * MULT });
  assert.match(await page.textContent('#reload li'), /\.md:\d+: duplicate id 'hostile-answer'/);
  assert.match(await page.textContent('#reload .badge'), /failed/);
  writeFileSync(file, orig);
  await s.waitLog(/event=reload result=ok/);
  await page.click('#reload-refresh');
  await page.waitForFunction(() => document.querySelector('#reload .badge')?.textContent === 'ok');
  assert.equal(await page.$$eval('#reload li', (n) => n.length), 0);
}));

test('unanswered questions: the misses of the last 30 days, most frequent first, with examples', async () => {
  for (const q of ['股票代码多少', '股票代码多少？', 'quantum chromodynamics lecture']) {
    const [c] = await s.visitor({ lang: 'auto' });
    const { reply } = await c.ask(q, 'u1');
    assert.equal(reply.type, 'fallback', q);
    c.close();
  }
  await withPage('/kb/', async (page) => {
    await page.waitForSelector('#unanswered ol li');
    const items = await page.$$eval('#unanswered ol > li', (l) => l.map((x) => x.textContent));
    assert.match(items[0], /^股票代码多少 ×2/);
    assert.ok(items[0].includes('股票代码多少？'), items[0]);
    assert.ok(items.some((t) => /^quantum chromodynamics lecture ×1/.test(t)), JSON.stringify(items));
  });
});
