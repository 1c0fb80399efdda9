import WebSocket from 'ws';
import { AsyncQueue } from './async-queue';

/**
 * A bare graphql-transport-ws socket, to send what a well-behaved client never would. Every message
 * the server sends queues up in `messages`.
 */
export interface RawSocket {
  socket: WebSocket;
  messages: AsyncQueue<{ type: string; id?: string; payload?: any }>;
  closed: Promise<{ code: number; reason: string }>;
  send(message: Record<string, unknown>): void;
  /** Sends connection_init (with a token, if given) and waits for the acknowledgement. */
  init(token?: string): Promise<void>;
}

export function openRawSocket(url: string, headers: Record<string, string> = {}): Promise<RawSocket> {
  const socket = new WebSocket(url, 'graphql-transport-ws', { headers });
  const messages = new AsyncQueue<{ type: string; id?: string; payload?: any }>();
  socket.on('message', (data) => messages.push(JSON.parse(String(data))));
  const closed = new Promise<{ code: number; reason: string }>((resolve) => socket.on('close', (code, reason) => resolve({ code, reason: String(reason) })));
  const raw: RawSocket = {
    socket,
    messages,
    closed,
    send: (message) => socket.send(JSON.stringify(message)),
    async init(token) {
      raw.send({ type: 'connection_init', payload: token ? { authorization: `Bearer ${token}` } : {} });
      const ack = await messages.next();
      if (ack.type !== 'connection_ack') throw new Error(`expected connection_ack, got ${JSON.stringify(ack)}`);
    },
  };
  return new Promise((resolve, reject) => {
    socket.once('open', () => resolve(raw));
    socket.once('error', reject);
  });
}
