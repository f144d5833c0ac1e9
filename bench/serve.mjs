// Starting and stopping a server under a benchmark (bench/server.mjs, bench/ab.mjs,
// bench/procs.mjs): kefu or the peer, whose stdout announces "listening on http://HOST:PORT";
// and running bench/loadgen against one.
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import path from 'node:path';

let nlogs = 0;

// Starts cmd; resolves { proc, pid, url, logFile, log } once it printed its URL. Its stderr
// goes to a file in logDir, not a pipe: a generator may run synchronously, and a pipe nobody
// drains meanwhile would block the server's writes to stderr, and with them its loop.
export function startServer(logDir, cmd, args, opts = {}) {
  return new Promise((resolve, reject) => {
    const logFile = path.join(logDir, `log.${++nlogs}`);
    const fd = openSync(logFile, 'w');
    const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', fd], ...opts });
    closeSync(fd);
    const s = { proc, pid: proc.pid, logFile, get log() { return readFileSync(logFile, 'utf8'); } };
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${cmd}: no URL in 120 s\n${s.log}`)), 120000);
    proc.stdout.setEncoding('utf8');
    proc.stdout.on('data', (d) => {
      out += d;
      const m = /listening on http:\/\/(\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        s.url = `ws://${m[1]}/ws`;
        resolve(s);
      }
    });
    proc.on('exit', (code) => reject(new Error(`${cmd} exited with ${code}\n${s.log}`)));
  });
}

// SIGTERM, then SIGKILL after 10 s; resolves once it exited.
export function stopServer(s) {
  return new Promise((resolve) => {
    if (s.proc.exitCode !== null) return resolve();
    const t = setTimeout(() => s.proc.kill('SIGKILL'), 10000);
    s.proc.once('exit', () => { clearTimeout(t); resolve(); });
    s.proc.kill('SIGTERM');
  });
}

// Runs bench/loadgen (its path, then its arguments, with --json) asynchronously, killed if it
// is still running secs + 120 s later; resolves the JSON line it prints last.
export function runLoadgen(loadgen, args, secs) {
  return new Promise((resolve, reject) => {
    const p = spawn(loadgen, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    const timer = setTimeout(() => p.kill('SIGKILL'), (secs + 120) * 1000);
    p.stdout.setEncoding('utf8');
    p.stdout.on('data', (d) => { out += d; });
    p.on('exit', (code) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`loadgen exited with ${code}`));
      resolve(JSON.parse(out.trim().split('\n').pop()));
    });
  });
}
