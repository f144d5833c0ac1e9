// Browser tests' helper: Debian's chromium driven by playwright-core (headless, no sandbox, no
// background networking; playwright gives every launch a fresh --user-data-dir of its own)
// against the real `kefu serve` started by ../integration/helper.mjs, on the shipped knowledge
// or a fixture. Screenshots go to tests/artifacts/ (git-ignored).
import { mkdtempSync, cpSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { Server, ROOT, MULT, sleep } from '../integration/helper.mjs';

export { ROOT, MULT, sleep };
export const CHROMIUM = process.env.KEFU_CHROMIUM || '/usr/bin/chromium';
export const ARTIFACTS = join(ROOT, 'tests/artifacts');
// The settings every browser test runs with: the learned layer ready before serving (answers
// do not change under a test), and no rate limit in the way of a fast robot.
const SETS = ['learned=2', 'rate_per_conn=1000', 'burst_per_conn=1000', 'rate_per_addr=1000',
  'burst_per_addr=1000'];

export async function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run'],
    timeout: 30000 * MULT,
  });
}

// A temporary directory with a copy of the shipped kb/ and intents/, or of a fixture's.
export function knowledge(which = 'shipped') {
  const dir = mkdtempSync(join(tmpdir(), 'kefu-web-'));
  const from = which === 'shipped' ? ROOT : join(ROOT, 'tests/web/fixtures');
  cpSync(join(from, 'kb'), join(dir, 'kb'), { recursive: true });
  cpSync(join(from, 'intents'), join(dir, 'intents'), { recursive: true });
  return dir;
}

// A free TCP port (for a server that must come back on the same address after a restart).
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// Starts kefu; opts: { kb: 'shipped' | 'fixture', port, set: [...] }.
export async function startServer(opts = {}) {
  const args = opts.port ? ['--listen', `127.0.0.1:${opts.port}`] : [];
  const dir = knowledge(opts.kb || 'shipped');
  const cache = join(ARTIFACTS, 'model-cache'); // learned models, by content hash
  mkdirSync(cache, { recursive: true });
  const s = new Server({ dir, set: [...SETS, `cache_dir=${cache}`, ...(opts.set || [])], args });
  await s.start();
  return s;
}

// Stops kefu; its log is printed when a test failed, and an unclean exit (a sanitizer's
// report under `make asan`) is a failure of its own, as in the integration tests.
export async function stopServer(s, failed) {
  if (!s) return;
  const exit = await s.stop().catch((e) => ({ code: String(e) }));
  const unclean = exit.code !== 0 && exit.signal !== 'SIGKILL';
  if (failed || unclean) process.stderr.write(`---- kefu stderr ----\n${s.stderr}\n---- end ----\n`);
  s.cleanup();
  if (unclean) throw new Error(`kefu exited with ${JSON.stringify(exit)}`);
}

export function screenshotPath(name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  return join(ARTIFACTS, name);
}

// Collects the page's script errors and console errors; a test asserts none happened.
export function watch(page) {
  const problems = [];
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    // a refused WebSocket while the server is down is expected (the restart test)
    if (m.type() === 'error' && !/favicon|Failed to load resource|WebSocket connection to .* failed/.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  return problems;
}

/* ---- the widget, seen from a test (playwright's CSS selectors pierce open shadow roots) ---- */

export const W = {
  launcher: 'kefu-widget .launcher',
  panel: 'kefu-widget .panel',
  input: 'kefu-widget textarea.input',
  log: 'kefu-widget .log',
  status: 'kefu-widget .status',
};

export async function openWidget(page) {
  await page.click(W.launcher);
  await page.waitForSelector(W.panel, { state: 'visible' });
  await page.waitForFunction(() => {
    const r = document.querySelector('kefu-widget').shadowRoot.querySelector('.status');
    return r && r.classList.contains('ok');
  }, null, { timeout: 10000 * MULT });
}

// Number of bot/agent rows so far (what a reply waits for).
export function countReplies(page) {
  return page.$$eval('kefu-widget .msg.bot, kefu-widget .msg.agent, kefu-widget .sys', (n) => n.length);
}

// Types a question, sends it with Enter, and returns the new reply row's
// { type, entry, text, seq } once it is there.
export async function ask(page, text) {
  const before = await page.$$eval('kefu-widget .msg.bot, kefu-widget .msg.agent', (n) => n.length);
  await page.fill(W.input, text);
  await page.press(W.input, 'Enter');
  await page.waitForFunction((n) => document.querySelector('kefu-widget').shadowRoot
    .querySelectorAll('.msg.bot, .msg.agent').length > n, before, { timeout: 10000 * MULT });
  return lastReply(page);
}

export function lastReply(page) {
  return page.$$eval('kefu-widget .msg.bot, kefu-widget .msg.agent', (rows) => {
    const r = rows[rows.length - 1];
    return { type: r.dataset.type, entry: r.dataset.entry || null, text: r.textContent, seq: Number(r.dataset.seq) };
  });
}

// Every row of the conversation as [kind, seq, text], for comparing before/after a reload.
export function transcript(page) {
  return page.$$eval('kefu-widget .msg', (rows) => rows.map((r) => [
    r.classList.contains('visitor') ? 'visitor' : r.classList.contains('agent') ? 'agent' : 'bot',
    Number(r.dataset.seq || 0), r.textContent]));
}
