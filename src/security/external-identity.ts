import { errors, jwtVerify, type JWTPayload } from 'jose';
import { LRUCache } from 'lru-cache';
import type { ExternalAuthConfig } from '../config';
import { createJwks, JwksUnavailableError } from './jwks';
import { InvalidTokenError } from './jwt';
import type { Viewer } from './viewer';

/** Who the provider says the bearer is, as a new account is made from it. */
export interface ExternalIdentity {
  issuer: string;
  subject: string;
  /** The value of AUTH_HANDLE_CLAIM (a handle is derived from it), if the token has one. */
  handleHint: string | undefined;
  /** The `name` claim, if any. */
  name: string | undefined;
  /** The `email` claim, only when `email_verified` is true and it looks like an address. */
  email: string | undefined;
}

export interface ExternalTokens {
  /** The viewer an external token names, its account made on first sight; InvalidTokenError or JwksUnavailableError. */
  verify(token: string): Promise<Viewer>;
  /** The account was erased: the subject gets a new account the next time it comes. */
  forget(userId: string): void;
}

export interface ExternalTokenOptions {
  /** The Parley user id of an identity, made on first sight (services/external-accounts.ts). */
  accountFor(identity: ExternalIdentity): Promise<string>;
  onFetchFailed?(error: unknown): void;
}

/** Asymmetric algorithms only: an HS256 token "signed" with a public key, or `alg: none`, is refused before any key is looked at. */
const ALGORITHMS = ['RS256', 'ES256'];

/**
 * Tokens of an external OpenID Connect provider (AUTH_JWKS_URL): RS256/ES256 signatures checked
 * against its JWKS (security/jwks.ts: cached, rotated keys picked up, a provider that is down never
 * holds a known key), issuer and audience checked, `exp` required. The subject is mapped to a
 * Parley user, remembered for a while so that most requests read nothing.
 */
export function createExternalTokens(config: ExternalAuthConfig, options: ExternalTokenOptions): ExternalTokens {
  const keys = createJwks({ url: config.jwksUrl, timeoutMs: config.jwksTimeoutMs, cooldownMs: config.jwksCooldownMs, maxAgeMs: config.jwksMaxAgeMs, onFetchFailed: options.onFetchFailed });
  const users = new LRUCache<string, string>({ max: 100_000, ttl: 600_000 });

  return {
    async verify(token) {
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, keys, { algorithms: ALGORITHMS, issuer: config.issuer, audience: config.audience, requiredClaims: ['sub', 'exp'] }));
      } catch (error) {
        if (error instanceof JwksUnavailableError) throw error;
        if (error instanceof errors.JWTExpired) throw new InvalidTokenError('expired');
        throw new InvalidTokenError('invalid');
      }
      const subject = payload.sub!;
      if (subject.length > 255) throw new InvalidTokenError('invalid');
      let userId = users.get(subject);
      if (userId === undefined) {
        userId = await options.accountFor({
          issuer: config.issuer,
          subject,
          handleHint: stringClaim(payload[config.handleClaim]),
          name: stringClaim(payload.name),
          email: payload.email_verified === true ? emailClaim(payload.email) : undefined,
        });
        users.set(subject, userId);
      }
      // Only `auth_time` says when the user signed in: a refreshed token has a new `iat` without one.
      const authTime = typeof payload.auth_time === 'number' ? payload.auth_time : undefined;
      return { id: userId, tokenExpiresAt: payload.exp! * 1000, ...(authTime !== undefined ? { authenticatedAt: authTime * 1000 } : {}) };
    },
    forget(userId) {
      for (const [subject, id] of users.entries()) if (id === userId) users.delete(subject);
    },
  };
}

function stringClaim(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
}

/** An address as sign-up accepts them (at most 254 characters, not in `.invalid`), else undefined. */
function emailClaim(value: unknown): string | undefined {
  const email = stringClaim(value);
  return email && email.length <= 254 && /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email) && !/\.invalid$/i.test(email) ? email : undefined;
}
