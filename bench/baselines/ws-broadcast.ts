// Baseline for S3/S4: a bare `ws` server that broadcasts one pre-serialised graphql-ws `next` frame
// to every socket — the least any server can do to fan a message out. Started as its own process.
import { createServer } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { WebSocketServer } from 'ws';

const loop = monitorEventLoopDelay({ resolution: 10 });
loop.enable();
let seq = 0;

const server = createServer((req, res) => {
  if (req.url === '/readyz') return res.end('ok');
  if (req.url === '/memory') return res.end(JSON.stringify(process.memoryUsage()));
  if (req.url === '/loop') {
    const p99 = loop.percentile(99) / 1e9;
    loop.reset();
    return res.end(JSON.stringify({ p99 }));
  }
  if (req.method === 'POST' && req.url === '/broadcast') {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk));
    req.on('end', () => {
      const { text } = JSON.parse(body) as { text: string };
      seq += 1;
      const frame = JSON.stringify({ id: '1', type: 'next', payload: { data: { conversationEvents: { seq, message: { id: `m${seq}`, body: text } } } } });
      for (const client of wss.clients) client.send(frame);
      res.end('{"ok":true}');
    });
    return;
  }
  res.statusCode = 404;
  res.end();
});
const wss = new WebSocketServer({ server, perMessageDeflate: false });
server.listen(Number(process.env.PORT), process.env.HOST ?? '127.0.0.1');
