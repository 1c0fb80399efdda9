// A child process of checked subscribers for the soak: each follows one conversation over
// graphql-ws, checks that stored events arrive gapless and once (seq = last + 1), reconnects on its
// own when the socket closes, and on command, resuming with afterSeq = the last seq it saw.
import WebSocket from 'ws';

export interface Assignment {
  url: string;
  token: string;
  conversationId: string;
  /** The conversation's head seq when the soak began: the subscriber starts after it. */
  afterSeq: number;
}

type Command = { cmd: 'start'; assignments: Assignment[]; query: string } | { cmd: 'reconnect'; share: number } | { cmd: 'stats' } | { cmd: 'close' };

interface Subscriber {
  assignment: Assignment;
  last: number;
  socket?: WebSocket;
  closing: boolean;
}

const subscribers: Subscriber[] = [];
let query = '';
let received = 0;
let gaps = 0;
let duplicates = 0;
let resyncs = 0;
let reconnects = 0;
let stopped = false;

function open(subscriber: Subscriber, index: number): Promise<void> {
  return new Promise((resolve) => {
    const { url, token, conversationId } = subscriber.assignment;
    const socket = new WebSocket(url, 'graphql-transport-ws', { localAddress: `127.0.0.${2 + (index % 100)}`, perMessageDeflate: false });
    subscriber.socket = socket;
    subscriber.closing = false;
    socket.on('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } })));
    socket.on('message', (data) => {
      const message = JSON.parse(data.toString());
      if (message.type === 'connection_ack') {
        socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query, variables: { id: conversationId, after: subscriber.last } } }));
        return resolve();
      }
      if (message.type === 'ping') return socket.send('{"type":"pong"}');
      if (message.type !== 'next') return;
      const event = message.payload.data?.conversationEvents;
      if (!event) return;
      if (event.__typename === 'ResyncRequired') {
        resyncs += 1;
        return;
      }
      if (event.seq === null) return; // ephemeral: typing, read receipts
      received += 1;
      if (event.seq <= subscriber.last) duplicates += 1;
      else {
        if (event.seq > subscriber.last + 1) gaps += event.seq - subscriber.last - 1;
        subscriber.last = event.seq;
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      resolve();
      if (stopped || subscriber.socket !== socket) return;
      // Dropped by the server or the network: come back and resume, as a chat client does.
      reconnects += 1;
      setTimeout(() => void open(subscriber, index), 200 + Math.random() * 300);
    });
  });
}

process.on('message', async (command: Command) => {
  switch (command.cmd) {
    case 'start': {
      query = command.query;
      const start = subscribers.length;
      for (const assignment of command.assignments) subscribers.push({ assignment, last: assignment.afterSeq, closing: false });
      for (let i = start; i < subscribers.length; i += 200) await Promise.all(subscribers.slice(i, i + 200).map((s, j) => open(s, i + j)));
      process.send!({ open: subscribers.filter((s) => s.socket?.readyState === WebSocket.OPEN).length });
      break;
    }
    case 'reconnect': {
      // The client side goes away (a phone changing networks): close, and the close handler resumes.
      const chosen = subscribers.filter(() => Math.random() < command.share);
      for (const subscriber of chosen) subscriber.socket?.close(1000, 'soak reconnect');
      process.send!({ reconnecting: chosen.length });
      break;
    }
    case 'stats':
      process.send!({
        received,
        gaps,
        duplicates,
        resyncs,
        reconnects,
        open: subscribers.filter((s) => s.socket?.readyState === WebSocket.OPEN).length,
        last: subscribers.map((s) => [s.assignment.conversationId, s.last]),
      });
      break;
    case 'close':
      stopped = true;
      for (const subscriber of subscribers) subscriber.socket?.terminate();
      process.send!({ ok: true }, () => process.exit(0));
      break;
  }
});
