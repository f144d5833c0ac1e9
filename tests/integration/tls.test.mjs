// TLS: with tls_cert and tls_key set, kefu serves https and wss on the same port.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { withServer } from './helper.mjs';

function selfSigned() {
  const dir = mkdtempSync(join(tmpdir(), 'kefu-tls-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1',
    '-subj', '/CN=127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')],
  { stdio: 'ignore' });
  return dir;
}

function get(url) {
  return new Promise((resolve, reject) => {
    https.get(url, { rejectUnauthorized: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
    }).on('error', reject);
  });
}

test('https and wss when a certificate is configured', async () => {
  const dir = selfSigned();
  try {
    await withServer({ set: [`tls_cert=${join(dir, 'cert.pem')}`, `tls_key=${join(dir, 'key.pem')}`] }, async (s) => {
      assert.match(s.url, /^https:\/\/127\.0\.0\.1:\d+$/);
      const h = await get(`${s.url}/healthz`);
      assert.equal(h.status, 200);
      assert.equal(JSON.parse(h.body).status, 'ok');
      const [c, w] = await s.visitor({ lang: 'zh' }, { insecure: true });
      assert.equal(w.type, 'welcome');
      const a = await c.ask('退款多久到账', 't1');
      assert.equal(a.reply.type, 'answer');
      c.close();
    });
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test('a missing certificate file stops kefu with a clear error', async () => {
  await assert.rejects(
    withServer({ set: ['tls_cert=/nonexistent/cert.pem', 'tls_key=/nonexistent/key.pem'] }, async () => {}),
    /kefu exited with [1-9]\d* before listening/,
  );
});
