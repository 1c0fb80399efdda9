import { errors, jwtVerify, SignJWT } from 'jose';
import { OWN_ISSUER } from '../config';

export interface TokenClaims {
  /** User id. */
  sub: string;
  /** Expiry, in seconds since the epoch. */
  exp: number;
  /** Issued at, in seconds since the epoch. */
  iat?: number;
  /** The session the token was issued for (sign-in or refresh). */
  sid?: string;
}

export interface TokenService {
  /** An access token for `userId`, in session `sessionId` when given (a sign-in or refresh). */
  issue(userId: string, sessionId?: string): Promise<string>;
  /** Resolves the claims, or rejects with `InvalidTokenError` for an expired, tampered or malformed token. */
  verify(token: string): Promise<TokenClaims>;
}

export class InvalidTokenError extends Error {
  constructor(readonly reason: 'expired' | 'invalid' | 'revoked') {
    super(reason === 'expired' ? 'The token has expired; refresh the session or sign in again.' : reason === 'revoked' ? 'This session was signed out; sign in again.' : 'The token is not valid.');
    this.name = 'InvalidTokenError';
  }
}


/** HS256 tokens with a fixed issuer and a lifetime of `ttlSeconds`. */
export function createTokenService(options: { secret: string; ttlSeconds: number; now?: () => number }): TokenService {
  const key = new TextEncoder().encode(options.secret);
  const nowSeconds = () => Math.floor((options.now?.() ?? Date.now()) / 1000);
  return {
    async issue(userId, sessionId) {
      const iat = nowSeconds();
      return new SignJWT(sessionId ? { sid: sessionId } : {})
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setSubject(userId)
        .setIssuer(OWN_ISSUER)
        .setIssuedAt(iat)
        .setExpirationTime(iat + options.ttlSeconds)
        .sign(key);
    },
    async verify(token) {
      try {
        const { payload } = await jwtVerify(token, key, {
          algorithms: ['HS256'],
          issuer: OWN_ISSUER,
          currentDate: new Date(nowSeconds() * 1000),
          requiredClaims: ['sub', 'exp'],
        });
        return { sub: payload.sub as string, exp: payload.exp as number, iat: payload.iat, ...(typeof payload.sid === 'string' ? { sid: payload.sid } : {}) };
      } catch (error) {
        if (error instanceof errors.JWTExpired) throw new InvalidTokenError('expired');
        throw new InvalidTokenError('invalid');
      }
    },
  };
}

/** Reads `Bearer <token>`; `undefined` when absent, `null` when present but not of that form. */
export function parseBearer(header: unknown): string | undefined | null {
  if (header === undefined || header === null || header === '') return undefined;
  if (typeof header !== 'string') return null;
  const match = /^Bearer\s+(\S+)$/i.exec(header.trim());
  return match ? match[1] : null;
}
