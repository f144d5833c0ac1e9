// Starts the real `kefu serve` on a temporary database and a free port, and speaks the visitor
// protocol over real WebSockets (ws). Every wait is an upper bound scaled by KEFU_TIMEOUT_MULT.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, cpSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const KEFU_BIN = process.env.KEFU_BIN || join(ROOT, 'build/kefu');
export const MULT = Number(process.env.KEFU_TIMEOUT_MULT || 1);
export const PROTOCOL = 'kefu.visitor.v1';
export const FIXTURES = join(ROOT, 'tests/fixtures');

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

// A temporary directory with copies of the fixture knowledge (so tests may edit it).
export function tmpKnowledge() {
  const dir = mkdtempSync(join(tmpdir(), 'kefu-it-'));
  cpSync(join(FIXTURES, 'kb-mini'), join(dir, 'kb'), { recursive: true });
  cpSync(join(FIXTURES, 'intents-mini'), join(dir, 'intents'), { recursive: true });
  return dir;
}

export class Server {
  // opts: { dir (from tmpKnowledge), set: ['key=value', ...], args: [...] }
  constructor(opts = {}) {
    this.dir = opts.dir || tmpKnowledge();
    this.db = join(this.dir, 'k.db');
    this.set = opts.set || [];
    this.args = opts.args || [];
    this.wrap = opts.wrap || []; // a command line that execs kefu (ulimit, ...): [cmd, ...args]
    this.stderr = '';
    this.proc = null;
  }

  async start() {
    const args = ['serve', '--listen', '127.0.0.1:0', '--db', this.db,
      '--kb', join(this.dir, 'kb'), '--intents', join(this.dir, 'intents'),
      '--web', join(ROOT, 'web'), '--set', 'reload_debounce_ms=50',
      // the learned layer is built before the server listens, so that answers do not depend
      // on how fast the machine trains (with learned=1, retrieval answers until it is ready)
      '--set', 'learned=2', ...this.args];
    for (const kv of this.set) args.push('--set', kv);
    const [cmd, ...pre] = this.wrap.length ? [...this.wrap, KEFU_BIN] : [KEFU_BIN];
    const proc = spawn(cmd, [...pre, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    this.exited = new Promise((r) => proc.on('exit', (code, signal) => r({ code, signal })));
    proc.stderr.setEncoding('utf8');
    proc.stderr.on('data', (d) => { this.stderr += d; });
    let out = '';
    proc.stdout.setEncoding('utf8');
    const url = await withTimeout(new Promise((resolve, reject) => {
      proc.stdout.on('data', (d) => {
        out += d;
        const m = /^kefu listening on (https?:\/\/\S+)$/m.exec(out);
        if (m) resolve(m[1]);
      });
      proc.on('exit', (code) => reject(new Error(`kefu exited with ${code} before listening\n${this.stderr}`)));
    }), 10000 * MULT, 'kefu to print its URL');
    this.url = url;
    this.wsUrl = url.replace(/^http/, 'ws') + '/ws';
    return this;
  }

  // SIGTERM, then waits for the exit; returns { code, signal }.
  async stop(signal = 'SIGTERM') {
    if (!this.proc || this.proc.exitCode !== null || this.proc.signalCode !== null) return this.exited;
    this.proc.kill(signal);
    return withTimeout(this.exited, 10000 * MULT, `kefu to exit on ${signal}`);
  }

  async kill9() {
    return this.stop('SIGKILL');
  }

  async restart() {
    await this.stop();
    return this.start();
  }

  cleanup() {
    rmSync(this.dir, { recursive: true, force: true });
  }

  // Waits until stderr matches re (log lines are the server's events).
  async waitLog(re, ms = 5000) {
    const t0 = Date.now();
    while (!re.test(this.stderr)) {
      if (Date.now() - t0 > ms * MULT) throw new Error(`log never matched ${re}\n${this.stderr}`);
      await sleep(20);
    }
  }

  sql(query) {
    return execFileSync('sqlite3', [this.db, query], { encoding: 'utf8', maxBuffer: 256 << 20 });
  }

  connect(opts = {}) {
    return new Client(this.wsUrl, opts).open();
  }

  // A connected client that has said hello; returns [client, welcome].
  async visitor(hello = {}, opts = {}) {
    const c = await this.connect(opts);
    c.send({ type: 'hello', ...hello });
    const w = await c.next('welcome');
    return [c, w];
  }
}

export class Client {
  constructor(url, opts = {}) {
    this.url = url;
    this.opts = opts;
    this.frames = [];
    this.waiters = [];
    this.closed = null;
  }

  open() {
    const protocol = this.opts.protocol === undefined ? PROTOCOL : this.opts.protocol;
    const headers = {};
    if (this.opts.origin) headers.Origin = this.opts.origin;
    Object.assign(headers, this.opts.headers || {});
    // insecure: accept the self-signed certificate of a TLS test
    const wsopts = { headers, rejectUnauthorized: !this.opts.insecure };
    this.ws = protocol ? new WebSocket(this.url, protocol, wsopts) : new WebSocket(this.url, wsopts);
    this.closedP = new Promise((r) => this.ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      r(this.closed);
      this._wake();
    }));
    this.ws.on('message', (data, isBinary) => {
      this.frames.push(isBinary ? { binary: data } : JSON.parse(data.toString()));
      this._wake();
    });
    return withTimeout(new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve(this));
      this.ws.once('error', reject);
      this.ws.once('unexpected-response', (req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    }), 5000 * MULT, 'WebSocket to open');
  }

  _wake() {
    const w = this.waiters;
    this.waiters = [];
    w.forEach((f) => f());
  }

  send(obj) {
    this.ws.send(JSON.stringify({ v: 1, ...obj }));
  }

  sendRaw(data, opts = {}) {
    this.ws.send(data, { binary: false, ...opts });
  }

  // The next frame (optionally of a type, or matching a predicate); earlier frames of other
  // types are kept for later calls.
  async next(match, ms = 5000) {
    const pred = typeof match === 'function' ? match : match ? (f) => f.type === match : () => true;
    const t0 = Date.now();
    for (;;) {
      const i = this.frames.findIndex(pred);
      if (i >= 0) return this.frames.splice(i, 1)[0];
      if (this.closed) throw new Error(`closed (${this.closed.code} ${this.closed.reason}) while waiting; frames: ${JSON.stringify(this.frames)}`);
      const left = ms * MULT - (Date.now() - t0);
      if (left <= 0) throw new Error(`no frame matching ${match} in ${ms * MULT} ms; frames: ${JSON.stringify(this.frames)}`);
      await new Promise((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => { clearTimeout(t); r(); });
      });
    }
  }

  // Sends a message and returns { ack, reply } (the reply's reply_to is the ack's seq).
  async ask(text, id) {
    this.send({ type: 'message', text, id });
    const ack = await this.next((f) => f.type === 'ack' && (!id || f.id === id));
    const reply = await this.next((f) => f.reply_to === ack.seq);
    return { ack, reply };
  }

  async waitClose(ms = 5000) {
    return withTimeout(this.closedP, ms * MULT, 'the server to close the connection');
  }

  close() {
    try { this.ws.close(); } catch { /* already closed */ }
  }
}

// Runs fn(server) and prints the server's log when it throws.
export async function withServer(opts, fn) {
  const s = new Server(opts);
  let failed = false;
  try {
    await s.start();
    await fn(s);
  } catch (e) {
    failed = true;
    throw e;
  } finally {
    const exit = await s.stop().catch((e) => ({ code: String(e) }));
    // A clean exit is part of every test: sanitizer reports (leaks) make it non-zero.
    if (!failed && exit.code !== 0 && exit.signal !== 'SIGKILL') {
      failed = true;
      process.stderr.write(`---- kefu stderr ----\n${s.stderr}\n---- end ----\n`);
      s.cleanup();
      throw new Error(`kefu exited with ${JSON.stringify(exit)} at the end of the test`);
    }
    if (failed) process.stderr.write(`---- kefu stderr ----\n${s.stderr}\n---- end ----\n`);
    s.cleanup();
  }
}

// Agents (kefu.agent.v1): an account in the server's database, a login over HTTP, and an
// authenticated socket.
export const AGENT_PW = 'correct-horse-1';

export function addAgent(s, name, maxChats = 5, display = name.toUpperCase()) {
  execFileSync(KEFU_BIN, ['agent', 'add', name, '--display', display, '--max-chats', String(maxChats), '--db', s.db],
    { input: AGENT_PW + '\n', stdio: ['pipe', 'pipe', 'pipe'] });
}

export async function post(s, path, body) {
  const r = await fetch(s.url + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: r.status, body: await r.json() };
}

export async function login(s, name, password = AGENT_PW) {
  const r = await post(s, '/api/login', { name, password });
  if (r.status !== 200) throw new Error(`login ${name}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.token;
}

// An authenticated agent socket; returns the client after its welcome/agents/queue/tickets.
export async function agent(s, name) {
  const token = await login(s, name);
  const c = await new Client(s.wsUrl, { protocol: 'kefu.agent.v1' }).open();
  c.token = token;
  c.send({ type: 'auth', token });
  c.welcome = await c.next('welcome');
  await c.next('tickets');
  return c;
}
