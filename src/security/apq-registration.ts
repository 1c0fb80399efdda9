import type { ApolloServerPlugin } from '@apollo/server';
import type { RequestHandler } from 'express';
import { ErrorCode } from '../errors';
import { addressKey } from './client-address';
import { sendGraphQLErrors } from './http-errors';
import type { RateLimiter } from './rate-limiter';
import type { Viewer } from './viewer';

export interface ApqRegistrationOptions {
  /** `authenticated`: an anonymous client's documents run, but are not stored. */
  register: 'anyone' | 'authenticated';
  /** Registrations per client address per window; beyond, documents run but are not stored. */
  rate: { max: number; windowMs: number };
  limiter: RateLimiter;
}

interface ApqRequest {
  query?: unknown;
  extensions?: { persistedQuery?: unknown };
}

/** The document an APQ request would register (its text sent with a hash), if any. */
function registering(request: ApqRequest | undefined): string | undefined {
  return request?.extensions?.persistedQuery && typeof request.query === 'string' ? request.query : undefined;
}

/**
 * APQ registration, part one, before Apollo Server: a document sent with a persisted-query hash
 * that is larger than PERSISTED_QUERY_MAX_BYTES is refused (QUERY_TOO_COMPLEX, 400). Every APQ
 * entry is kept in Redis for PERSISTED_QUERY_TTL; 50 KB of comments per entry were free before.
 */
export function apqDocumentSizeLimit(maxBytes: number): RequestHandler {
  return (req, res, next) => {
    let extensions: unknown = undefined;
    if (req.method === 'GET' && typeof req.query.extensions === 'string') {
      try {
        extensions = JSON.parse(req.query.extensions);
      } catch {
        return next(); // Apollo Server answers a malformed extensions parameter itself
      }
    }
    const document = registering(req.method === 'GET' ? { query: req.query.query, extensions: extensions as ApqRequest['extensions'] } : (req.body as ApqRequest | undefined));
    if (document !== undefined && Buffer.byteLength(document) > maxBytes) {
      return sendGraphQLErrors(req, res, 400, [
        { message: `A persisted query may be at most ${maxBytes} bytes as sent, comments included; this one is ${Buffer.byteLength(document)}.`, extensions: { code: ErrorCode.QUERY_TOO_COMPLEX } },
      ]);
    }
    next();
  };
}

/**
 * APQ registration, part two, in Apollo Server: who may store a document, and how often. A
 * registration that is not allowed still runs the document; Apollo Server is only told not to
 * store it (the request's `persistedQueryRegister` flag, which it checks before writing), so a
 * client never fails for it and a later request may register it.
 */
export function apqRegistrationPlugin(options: ApqRegistrationOptions): ApolloServerPlugin<{ viewer: Viewer | null; clientIp: string }> {
  return {
    async requestDidStart() {
      return {
        async didResolveSource({ metrics, contextValue }) {
          if (!metrics.persistedQueryRegister) return;
          if (options.register === 'authenticated' && !contextValue.viewer) {
            metrics.persistedQueryRegister = false;
            return;
          }
          const { max, windowMs } = options.rate;
          const verdict = await options.limiter.consume(`apq:ip:${addressKey(contextValue.clientIp)}`, max, windowMs);
          if (!verdict.allowed) metrics.persistedQueryRegister = false;
        },
      };
    },
  };
}
