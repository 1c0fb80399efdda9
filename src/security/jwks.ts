import { createLocalJWKSet, errors, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';

/** The provider's key set could not be fetched in time: a token that needs it can be neither accepted nor refused now. */
export class JwksUnavailableError extends Error {
  constructor(reason: string) {
    super(`The identity provider's signing keys could not be fetched (${reason}); retry shortly.`);
    this.name = 'JwksUnavailableError';
  }
}

export interface JwksOptions {
  url: string;
  /** A fetch longer than this fails (JwksUnavailableError). */
  timeoutMs: number;
  /** An unknown `kid` fetches the set again at most this often. */
  cooldownMs: number;
  /** Known keys are fetched again in the background when older than this. */
  maxAgeMs: number;
  /** A fetch failed (the provider down, slow or answering garbage); known keys keep working. */
  onFetchFailed?(error: unknown): void;
  now?(): number;
}

/**
 * A remote JSON Web Key Set, for `jwtVerify`. Unlike jose's `createRemoteJWKSet`, a provider that is
 * down or slow never holds a token whose key is known: the set in hand keeps serving while a
 * refresh runs in the background, and a failed refresh keeps it. Only a token naming a `kid` not
 * in hand waits for a fetch — at most `timeoutMs`, at most once per `cooldownMs` — and is then
 * verified (the key was rotated in), refused (no such key), or answered with JwksUnavailableError.
 */
export function createJwks(options: JwksOptions): JWTVerifyGetKey {
  const now = options.now ?? Date.now;
  let local: JWTVerifyGetKey | undefined;
  let fetchedAt = -Infinity;
  let attemptedAt = -Infinity;
  let lastFailure: unknown;
  let pending: Promise<void> | undefined;

  const reload = (): Promise<void> =>
    (pending ??= (async () => {
      attemptedAt = now();
      try {
        local = createLocalJWKSet(await fetchKeySet(options.url, options.timeoutMs));
        fetchedAt = now();
        lastFailure = undefined;
      } catch (error) {
        lastFailure = error;
        options.onFetchFailed?.(error);
        throw error instanceof JwksUnavailableError ? error : new JwksUnavailableError(error instanceof Error ? error.message : String(error));
      } finally {
        pending = undefined;
      }
    })());

  return async (header, token) => {
    if (!local) {
      // Nothing in hand: the first token waits for the first fetch (others within the cooldown fail fast).
      if (now() - attemptedAt < options.cooldownMs && lastFailure !== undefined) throw new JwksUnavailableError('the last fetch failed');
      await reload();
    } else if (now() - fetchedAt > options.maxAgeMs && !pending && now() - attemptedAt >= options.cooldownMs) {
      reload().catch(() => undefined); // reported through onFetchFailed; the keys in hand keep serving
    }
    try {
      return await local!(header, token);
    } catch (error) {
      if (!(error instanceof errors.JWKSNoMatchingKey)) throw error;
      // A fetch already under way (a background refresh, another token's) decides: the key may be
      // the one the provider just rotated in.
      if (pending) {
        await pending;
        return local!(header, token);
      }
      if (now() - attemptedAt < options.cooldownMs) {
        // Fetched a moment ago: the key is not there. Unless that fetch failed, when no one can tell.
        if (lastFailure !== undefined) throw new JwksUnavailableError('the last fetch failed');
        throw error;
      }
      await reload();
      return local!(header, token);
    }
  };
}

async function fetchKeySet(url: string, timeoutMs: number): Promise<JSONWebKeySet> {
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), headers: { accept: 'application/json' }, redirect: 'error' });
  } catch (error) {
    throw new JwksUnavailableError(error instanceof Error && error.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : 'the request failed');
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw new JwksUnavailableError(`HTTP ${response.status}`);
  }
  let body: unknown;
  try {
    body = await response.json();
  } catch {
    throw new JwksUnavailableError('the answer is not JSON');
  }
  if (typeof body !== 'object' || body === null || !Array.isArray((body as { keys?: unknown }).keys)) throw new JwksUnavailableError('the answer is not a key set');
  return body as JSONWebKeySet;
}
