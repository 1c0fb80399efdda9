import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, exportSPKI, generateKeyPair, type JWK, type KeyLike } from 'jose';

/** An identity provider's signing key, its public half as the JWKS publishes it. */
export interface SigningKey {
  kid: string;
  alg: 'RS256' | 'ES256';
  privateKey: KeyLike;
  publicJwk: JWK;
  publicPem: string;
}

export async function signingKey(kid: string, alg: 'RS256' | 'ES256'): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { kid, alg, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' }, publicPem: await exportSPKI(publicKey) };
}

/**
 * An identity provider's JWKS endpoint, inside the test: its keys can be rotated, its answers
 * delayed, and it can be made to fail (500) or to hang until `release()`.
 */
export class JwksServer {
  keys: SigningKey[] = [];
  mode: 'ok' | 'failing' | 'hanging' = 'ok';
  delayMs = 0;
  fetches = 0;
  private readonly hanging = new Set<ServerResponse>();
  private readonly server: Server = createServer((_req: IncomingMessage, res: ServerResponse) => {
    this.fetches += 1;
    if (this.mode === 'hanging') return void this.hanging.add(res);
    const answer = () => {
      if (this.mode === 'failing') return void res.writeHead(500).end();
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: this.keys.map((k) => k.publicJwk) }));
    };
    if (this.delayMs > 0) setTimeout(answer, this.delayMs);
    else answer();
  });

  /** Listens on a free port; resolves with the key set's URL. */
  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/.well-known/jwks.json`;
  }

  /** Answers every hanging request (500). */
  release(): void {
    for (const res of this.hanging) res.writeHead(500).end();
    this.hanging.clear();
  }

  async stop(): Promise<void> {
    this.release();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
