// The server-benchmark peer: what a team would otherwise build, a Node.js `ws` server that
// answers kefu's visitor frames (docs/protocol.md: hello → welcome, message → ack + answer or
// fallback, or with hello's fold_acks the answer or fallback carrying the ack) with nlp.js
// trained on the same knowledge (text<TAB>label lines, one intent per label), so
// bench/loadgen measures kefu and this peer the same way.
//
//   node server.mjs --train TRAIN.tsv [--port 0] [--threshold T]
//
// Prints "peer listening on http://127.0.0.1:PORT" on stdout once trained and listening.
// Unlike kefu it stores nothing (no database, no resume): a lenient baseline, in its favour.
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { WebSocketServer } from 'ws';

console.log = (...args) => console.error(...args); // nlp.js logs on stdout; keep it for the URL

const require = createRequire(import.meta.url);
const { NlpManager } = require('node-nlp');

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : dflt;
};
const trainFile = opt('--train');
const port = Number(opt('--port', '0'));
const threshold = Number(opt('--threshold', '0'));
if (!trainFile) {
  process.stderr.write('usage: node server.mjs --train TRAIN.tsv [--port 0] [--threshold T]\n');
  process.exit(2);
}

const manager = new NlpManager({
  languages: ['en'],
  threshold: 0,
  autoSave: false,
  autoLoad: false,
  forceNER: false,
  calculateSentiment: false,
  nlu: { log: false },
  ner: { builtins: [] },
});
for (const line of readFileSync(trainFile, 'utf8').split(/\r?\n/)) {
  const tab = line.lastIndexOf('\t');
  if (tab < 0) continue;
  const label = line.slice(tab + 1).trim();
  if (label && label !== 'oos') manager.addDocument('en', line.slice(0, tab), label);
}
await manager.train();

// The same answer text as bench/mkkb.sh writes into kefu's knowledge base.
const answerOf = (label) => `This is the answer about **${label.replace(/_/g, ' ')}** (intent \`${label}\`).`;

const wss = new WebSocketServer({
  host: '127.0.0.1',
  port,
  path: '/ws',
  perMessageDeflate: false,
  maxPayload: 4096,
  handleProtocols: (protocols) => (protocols.has('kefu.visitor.v1') ? 'kefu.visitor.v1' : false),
});

const send = (ws, obj) => ws.send(JSON.stringify({ v: 1, ...obj }));

wss.on('connection', (ws) => {
  const st = { token: null, seq: 0, fold: false };
  ws.on('message', async (data, isBinary) => {
    let f;
    try {
      f = JSON.parse(data.toString());
    } catch {
      send(ws, { type: 'error', seq: st.seq, code: 'bad_json', message: 'not JSON' });
      return;
    }
    if (isBinary || !f || typeof f !== 'object') {
      send(ws, { type: 'error', seq: st.seq, code: 'bad_json', message: 'not a JSON object' });
    } else if (f.type === 'hello') {
      if (st.token) {
        send(ws, { type: 'error', seq: st.seq, code: 'out_of_order', message: 'second hello', id: f.id });
        return;
      }
      st.token = randomBytes(16).toString('hex');
      st.fold = f.fold_acks === true; // the reply carries the ack, as kefu does (docs/protocol.md)
      send(ws, { type: 'welcome', seq: st.seq, token: st.token, resumed: false, lang: 'en', ...(st.fold ? { fold_acks: true } : {}) });
    } else if (!st.token) {
      send(ws, { type: 'error', seq: st.seq, code: 'out_of_order', message: 'send hello first', id: f.id });
    } else if (f.type === 'message') {
      if (typeof f.text !== 'string' || !f.text.trim()) {
        send(ws, { type: 'error', seq: st.seq, code: 'missing_field', message: 'text', id: f.id });
        return;
      }
      const seq = ++st.seq;
      const reply = ++st.seq;
      if (!st.fold) send(ws, { type: 'ack', seq, of: 'message', ...(f.id ? { id: f.id } : {}) });
      const id = st.fold && f.id ? { id: f.id } : {};
      const r = await manager.process('en', f.text);
      if (ws.readyState !== ws.OPEN) return;
      if (r.intent === 'None' || !(r.score >= threshold)) {
        send(ws, { type: 'fallback', seq: reply, text: 'Sorry, I did not understand. Could you say it another way?', reply_to: seq, ...id });
      } else {
        send(ws, { type: 'answer', seq: reply, entry: r.intent, text: answerOf(r.intent), lang: 'en', prompts: [], confidence: r.score, reply_to: seq, ...id });
      }
    }
  });
  ws.on('error', () => {});
});

wss.on('listening', () => {
  process.stdout.write(`peer listening on http://127.0.0.1:${wss.address().port}\n`);
});
const stop = () => {
  for (const c of wss.clients) c.terminate();
  wss.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
