// A child process holding many WebSocket clients (graphql-ws protocol, or bare sockets for the raw
// baseline), so the load generator has an event loop of its own. Each message whose body carries
// `t:<ms>` records its delay from that send time. Driven over IPC by fleet.ts.
import { build } from 'hdr-histogram-js';
import WebSocket from 'ws';

interface Connect {
  cmd: 'connect';
  url: string;
  count: number;
  /** graphql: connection_init with a token, then one subscribe; raw: just the socket. */
  mode: 'graphql' | 'raw';
  tokens: string[];
  query?: string;
  variables?: Record<string, unknown>;
  /** graphql mode: false connects and authenticates only (an idle signed-in client). Default true. */
  subscribe?: boolean;
}
type Command = Connect | { cmd: 'reset' } | { cmd: 'stats' } | { cmd: 'close' };

const sockets: WebSocket[] = [];
const histogram = build({ lowestDiscernibleValue: 1, highestTrackableValue: 600_000, numberOfSignificantValueDigits: 3 });
let received = 0;
let failed = 0;
const STAMP = /t:(\d{13})/;
/** The seq of a stored event a frame carries (the first `"seq":N`: the event's own). */
const SEQ = /"seq":(\d+)/;
let resubscribes = 0;

function open(command: Connect, index: number): Promise<void> {
  return new Promise((resolve) => {
    const socket = new WebSocket(command.url, command.mode === 'graphql' ? 'graphql-transport-ws' : undefined, {
      // Many source addresses, as many clients behind many hosts would be.
      localAddress: `127.0.0.${2 + (index % 100)}`,
      perMessageDeflate: false,
    });
    let settled = false;
    let lastSeq: number | null = null;
    const settle = (ok: boolean) => {
      if (settled) return;
      settled = true;
      if (!ok) failed += 1;
      resolve();
    };
    socket.on('error', () => settle(false));
    socket.on('close', () => settle(false));
    socket.on('open', () => {
      sockets.push(socket);
      if (command.mode === 'raw') return settle(true);
      socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${command.tokens[index % command.tokens.length]}` } }));
    });
    socket.on('message', (data) => {
      const text = data.toString();
      if (!settled) {
        if (text.includes('"connection_ack"')) {
          if (command.subscribe !== false) socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: command.query, variables: command.variables } }));
          settle(true);
        }
        return;
      }
      if (text.includes('"ping"')) return socket.send('{"type":"pong"}');
      const stamp = STAMP.exec(text);
      // A subscribe refused under load (a burst of set-ups wanting the database at once: graphql-ws
      // answers a refused set-up with `next` carrying the error, then `complete`) is sent again after
      // retryAfterSeconds, as a client does; its afterSeq replays what it missed.
      if (!stamp && text.includes('SERVICE_UNAVAILABLE')) {
        // A new operation id, as graphql-ws clients use: the refused one may still be winding down.
        // retryAfterSeconds (1) with the client helper's jitter, so that refused set-ups do not all come back at once.
        // From the last seq received, as the client helper resumes: not the whole history again.
        const variables = lastSeq !== null && command.variables && 'after' in command.variables ? { ...command.variables, after: lastSeq } : command.variables;
        setTimeout(
          () => socket.readyState === WebSocket.OPEN && socket.send(JSON.stringify({ id: `r${++resubscribes}`, type: 'subscribe', payload: { query: command.query, variables } })),
          1_000 * (1 + Math.random() / 2),
        );
        return;
      }
      const seq = SEQ.exec(text);
      if (seq) lastSeq = Math.max(lastSeq ?? 0, Number(seq[1]));
      if (!stamp) return;
      received += 1;
      histogram.recordValue(Math.max(1, Date.now() - Number(stamp[1])));
    });
  });
}

process.on('message', async (command: Command) => {
  switch (command.cmd) {
    case 'connect': {
      const start = sockets.length;
      for (let i = 0; i < command.count; i += 200) {
        await Promise.all(Array.from({ length: Math.min(200, command.count - i) }, (_, j) => open(command, start + i + j)));
      }
      process.send!({ connected: sockets.length, failed });
      break;
    }
    case 'reset':
      histogram.reset();
      received = 0;
      process.send!({ ok: true });
      break;
    case 'stats':
      process.send!({
        received,
        open: sockets.filter((s) => s.readyState === WebSocket.OPEN).length,
        p50: histogram.getValueAtPercentile(50),
        p90: histogram.getValueAtPercentile(90),
        p99: histogram.getValueAtPercentile(99),
        max: histogram.maxValue,
        mean: Math.round(histogram.mean * 100) / 100,
      });
      break;
    case 'close':
      for (const socket of sockets) socket.terminate();
      process.send!({ ok: true }, () => process.exit(0));
      break;
  }
});
