import type { IncomingMessage } from 'node:http';
import type { WebSocketServer } from 'ws';
import type { ConnectionLimits } from '../security/connection-limits';
import { createConnectionHooks } from './connections';
import { createOperationHooks, type OperationOptions } from './operations';
import { serveGraphqlWs } from './transport';

export interface WsServerOptions extends OperationOptions {
  /** The WebSocket server on the HTTP server's upgrade path (the composition root makes it). */
  wss: WebSocketServer;
  /** The client's address for one upgrade request (TRUST_PROXY applies). */
  clientAddress: (request: IncomingMessage) => string;
  /** Open sockets per user and per address, across the cluster. */
  connectionLimits: ConnectionLimits;
}

/**
 * GraphQL over WebSocket (graphql-ws's protocol, graphql-transport-ws) on `wss`: Parley's server of
 * the protocol (transport.ts: one object per socket and per operation, keep-alive) with the hooks of who a socket is
 * (connections.ts) and of what its operations do (operations.ts). `dispose()` closes every socket
 * with 1001 (going away), stops accepting upgrades, and waits for the close handlers.
 */
export async function attachWsServer(options: WsServerOptions) {
  const { wss, services, log } = options;
  const connections = await createConnectionHooks(options);
  const server = serveGraphqlWs(
    { connectionInitWaitTimeout: services.config.limits.connectionInitTimeoutMs, ...connections.hooks, ...createOperationHooks(options) },
    { wss, keepAliveMs: services.config.realtime.wsKeepAliveMs, log, clientAddress: options.clientAddress, strings: services.strings },
  );
  return {
    dispose: async () => {
      await server.dispose();
      await connections.dispose();
    },
  };
}
