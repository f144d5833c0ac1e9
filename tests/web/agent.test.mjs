// The agent console with the widget, two browser contexts against one server: a visitor asks
// for a human, the console sees it in the queue, takes it, they chat both ways, the agent
// searches the knowledge base and inserts an answer, closes, and the visitor rates; with
// nobody online the visitor leaves a message and the ticket appears in the console.
// These need the server side of the handoff (kefu.agent.v1, POST /api/login, `kefu agent`);
// on a server without it they are skipped with that reason.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  launch, startServer, stopServer, watch, openWidget, ask, screenshotPath, W, MULT,
} from './browser.mjs';
import { KEFU_BIN } from '../integration/helper.mjs';

const PW = 'correct-horse-1';
let browser;
let failed = false;

// The handoff server knows the agent settings (and `kefu agent`); an older one refuses them.
function hasHandoff() {
  return /^assign = /m.test(execFileSync(KEFU_BIN, ['config', '--example'], { encoding: 'utf8' }));
}

function addAgent(s, name, display) {
  execFileSync(KEFU_BIN, ['agent', 'add', name, '--display', display, '--db', s.db],
    { input: PW + '\n', stdio: ['pipe', 'pipe', 'pipe'] });
}

before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

// A server with an agent; fn(server, visitorPage, consolePage) or a skip without handoff.
async function scene(t, set, fn) {
  if (!hasHandoff()) {
    t.skip('needs the handoff server (POST /api/login, kefu.agent.v1, kefu agent): merge branch handoff');
    return;
  }
  const s = await startServer({ set: ['presence_grace_s=0.2', ...set] });
  const ctxs = [];
  try {
    addAgent(s, 'xiaowang', '小王');
    const page = async (viewport) => {
      const ctx = await browser.newContext({ locale: 'zh-CN', viewport, reducedMotion: 'reduce' });
      ctxs.push(ctx);
      const p = await ctx.newPage();
      p.problems = watch(p);
      return p;
    };
    const visitor = await page({ width: 480, height: 760 });
    const agent = await page({ width: 1280, height: 800 });
    await fn(s, visitor, agent);
    assert.deepEqual(visitor.problems, [], 'widget page errors');
    assert.deepEqual(agent.problems, [], 'console page errors');
  } catch (e) {
    failed = true;
    throw e;
  } finally {
    for (const c of ctxs) await c.close();
    await stopServer(s, failed);
  }
}

async function login(page, s) {
  await page.goto(`${s.url}/agent/`);
  await page.fill('#login-name', 'xiaowang');
  await page.fill('#login-pw', PW);
  await page.click('#login-form button[type=submit]');
  await page.waitForSelector('#desk:not([hidden])');
  await page.waitForFunction(() => /小王/.test(document.getElementById('me').textContent));
}

test('visitor asks for a human: the console sees, takes, chats both ways, closes; the visitor rates', (t) =>
  scene(t, ['assign=manual'], async (s, visitor, agent) => {
    await login(agent, s);
    await visitor.goto(`${s.url}/`);
    await openWidget(visitor);
    await ask(visitor, '退款多久到账');
    const h = await ask(visitor, '我要转人工');
    assert.equal(h.type, 'handoff');
    await visitor.waitForSelector('kefu-widget .queue:not([hidden])');
    assert.match(await visitor.textContent('kefu-widget .queue'), /前面还有 0 位/);
    // the console: the queue shows it with its reason, the visitor's words and a waiting time
    await agent.waitForSelector('#queue li');
    const item = await agent.textContent('#queue li');
    assert.match(item, /asked/);
    assert.match(item, /我要转人工/);
    assert.match(item, /\d+ s/);
    await agent.click('#queue li .claim');
    await agent.waitForSelector('.conv');
    assert.match(await agent.textContent('.conv .transcript'), /退款多久到账[\s\S]*我要转人工/);
    // the claim's transcript and the queue's update come in separate frames, the queue's last
    await agent.waitForFunction(() => document.querySelectorAll('#queue li').length === 0);
    // the visitor sees the agent's name
    await visitor.waitForSelector('kefu-widget .sys');
    assert.match(await visitor.textContent('kefu-widget .head .sub'), /小王/);
    // agent → visitor
    await agent.fill('.conv .reply-text', '您好，我是小王，请问订单号是多少？');
    await agent.press('.conv .reply-text', 'Enter');
    await visitor.waitForSelector('kefu-widget .msg.agent');
    assert.match(await visitor.textContent('kefu-widget .msg.agent'), /小王[\s\S]*请问订单号是多少/);
    // visitor → agent (the bot stays silent)
    const bots = await visitor.$$eval('kefu-widget .msg.bot', (n) => n.length);
    await visitor.fill(W.input, '订单号 202401010001234');
    await visitor.press(W.input, 'Enter');
    await agent.waitForFunction(() => /202401010001234/.test(document.querySelector('.conv .transcript').textContent));
    assert.equal(await visitor.$$eval('kefu-widget .msg.bot', (n) => n.length), bots);
    // knowledge search and insert, an internal note
    await agent.fill('.conv .kb-q', '退款 到账');
    await agent.press('.conv .kb-q', 'Enter');
    await agent.waitForSelector('.conv .kb-results li[data-entry]');
    await agent.click('.conv .kb-results li[data-entry] .insert');
    assert.ok((await agent.inputValue('.conv .reply-text')).length > 10, 'the answer is in the reply box');
    await agent.fill('.conv .note-text', '客户要求加急');
    await agent.press('.conv .note-text', 'Enter');
    await agent.waitForSelector('.conv .line.note');
    await agent.screenshot({ path: screenshotPath('console.png') }); // docs/img/console.png
    await agent.press('.conv .reply-text', 'Enter');
    await visitor.waitForFunction(() => document.querySelector('kefu-widget').shadowRoot.querySelectorAll('.msg.agent').length === 2);
    assert.doesNotMatch(await visitor.textContent(W.log), /客户要求加急/, 'notes never reach the visitor');
    // close → survey → rating reaches the agent
    await agent.click('.conv .close');
    await agent.waitForSelector('.conv', { state: 'detached' });
    await visitor.waitForSelector('kefu-widget form.survey');
    await visitor.click('kefu-widget form.survey .star:nth-of-type(5)');
    await visitor.fill('kefu-widget form.survey textarea', '很快就解决了');
    await visitor.click('kefu-widget form.survey button[type=submit]');
    await visitor.waitForFunction(() => /感谢您的评价/.test(document.querySelector('kefu-widget').shadowRoot.querySelector('form.survey').textContent));
    await agent.waitForFunction(() => /CSAT ★★★★★/.test(document.getElementById('toasts').textContent));
    await visitor.screenshot({ path: screenshotPath('widget-survey.png') });
    // a reload keeps the survey answered (history), and nothing twice
    await visitor.reload();
    await visitor.waitForSelector('kefu-widget form.survey');
    assert.match(await visitor.textContent('kefu-widget form.survey'), /感谢您的评价/);
    const seqs = await visitor.$$eval('kefu-widget [data-seq]', (n) => n.map((x) => x.dataset.seq).filter(Boolean));
    assert.equal(new Set(seqs).size, seqs.length);
  }));

test('log out: the browser forgets the login at once; if the server cannot end it, the console says until when it is valid', (t) =>
  scene(t, [], async (s, visitor, agent) => {
    await login(agent, s);
    s.sql("CREATE TRIGGER refuse BEFORE UPDATE ON agent_logins BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;");
    await agent.click('#logout');
    await agent.waitForSelector('#login:not([hidden])');
    await agent.waitForFunction(() => /仍有效[\s\S]*stays valid until/.test(document.getElementById('login-err').textContent));
    assert.equal(await agent.evaluate(() => localStorage.getItem('kefu.agent.auth')), null, 'forgotten here');
    s.sql('DROP TRIGGER refuse;');
    await login(agent, s);
    await agent.click('#logout');
    await agent.waitForSelector('#login:not([hidden])');
    // the second login ends: only the first, which the server could not end, stays valid
    const valid = () => s.sql('SELECT count(*) FROM agent_logins WHERE revoked = 0;').trim();
    for (let i = 0; valid() !== '1'; i++) {
      assert.ok(i < 100 * MULT, `valid logins: ${valid()}`);
      await agent.waitForTimeout(50);
    }
    await agent.waitForTimeout(300); // its answer has reached the console
    assert.equal(await agent.textContent('#login-err'), '', 'a logout that worked says nothing');
  }));

test('nobody online: the visitor leaves a message and the ticket appears in the console', (t) =>
  scene(t, [], async (s, visitor, agent) => {
    await visitor.goto(`${s.url}/`);
    await openWidget(visitor);
    await ask(visitor, '我要转人工');
    await visitor.waitForSelector('kefu-widget form.leave');
    // a bad contact is refused in the form, then a good one goes through
    await visitor.fill('kefu-widget form.leave input >> nth=1', 'not a contact');
    await visitor.fill('kefu-widget form.leave textarea', '订单 123 一直没发货，请回电。<img src=x onerror=alert(1)>');
    await visitor.click('kefu-widget form.leave button[type=submit]');
    assert.match(await visitor.textContent('kefu-widget form.leave .err'), /有效的邮箱或电话/);
    await visitor.fill('kefu-widget form.leave input >> nth=0', '张三');
    await visitor.fill('kefu-widget form.leave input >> nth=1', 'zhang@example.com');
    await visitor.click('kefu-widget form.leave button[type=submit]');
    await visitor.waitForFunction(() => document.querySelector('kefu-widget').shadowRoot.querySelector('.msg.bot[data-type=ticket]'));
    await login(agent, s);
    await agent.waitForSelector('#tickets li');
    const tk = await agent.textContent('#tickets li');
    assert.match(tk, /张三 · zhang@example\.com/);
    assert.match(tk, /<img src=x onerror=alert\(1\)>/);
    assert.equal(await agent.$$eval('#tickets img', (n) => n.length), 0);
    await agent.click('#tickets li button');
    await agent.waitForFunction(() => /claimed · xiaowang/.test(document.querySelector('#tickets li').textContent), null, { timeout: 5000 * MULT });
  }));
