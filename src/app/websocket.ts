import type { IncomingMessage, Server } from 'node:http';
import { WebSocketServer } from 'ws';
import type { Config } from '../config';
import type { Logger } from '../observability/logger';
import { attachWsServer } from '../websocket/server';
import type { Backends } from './backends';
import type { GraphqlRules } from './graphql';
import type { Lifecycle } from './lifecycle';

/**
 * The WebSocket server, on the HTTP server's upgrade path at `/graphql` (one URL serves both).
 * Stopped before the HTTP drain: it closes every socket with 1001 instead of letting the drain cut them.
 */
export async function attachWebSocket(
  { config, logger, instanceId, backends, graphql, clientAddress }: { config: Config; logger: Logger; instanceId: string; backends: Backends; graphql: GraphqlRules; clientAddress: (request: IncomingMessage) => string },
  server: Server,
  lifecycle: Lifecycle,
): Promise<void> {
  const wss = new WebSocketServer({ server, path: '/graphql', maxPayload: config.limits.wsPayloadBytes });
  wss.on('headers', (headers) => headers.push(`x-parley-instance: ${instanceId}`));
  const ws = await attachWsServer({
    ...graphql,
    wss,
    services: backends.services,
    log: logger.child({ component: 'ws' }),
    clientAddress,
    connectionLimits: backends.connectionLimits,
  });
  lifecycle.add('websocket', ws.dispose);
}
