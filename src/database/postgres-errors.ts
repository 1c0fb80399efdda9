/** The parts of a node-postgres DatabaseError that Parley inspects (TypeORM wraps it in QueryFailedError). */
interface PostgresError {
  code?: string;
  constraint?: string;
}

function driverError(error: unknown): PostgresError {
  if (typeof error !== 'object' || error === null) return {};
  const inner = (error as { driverError?: unknown }).driverError ?? error;
  return typeof inner === 'object' && inner !== null ? (inner as PostgresError) : {};
}

/** The name of the unique index that refused a row (SQLSTATE 23505), or null for any other error. */
export function violatedUniqueIndex(error: unknown): string | null {
  const inner = driverError(error);
  return inner.code === '23505' ? (inner.constraint ?? '') : null;
}

/** SQLSTATE classes and codes meaning "the database cannot serve you right now", not "your query is wrong". */
const UNAVAILABLE_STATES = /^(08|57P0[1-4]|53300|53400)/;
const UNAVAILABLE_SYSCALLS = new Set(['PARLEY_POOL_BUSY', 'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
const RELEASED_RUNNER = new Set(['QueryRunnerProviderAlreadyReleasedError', 'QueryRunnerAlreadyReleasedError']);
const UNAVAILABLE_MESSAGES = /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Connection ended unexpectedly/;

/**
 * True when `error` (or what it wraps) says PostgreSQL is unreachable, restarting or out of
 * connections: a shutdown (57P01–57P04), a connection failure (class 08), too many connections
 * (53300), a refused or reset socket, the pool giving up on connecting, or no pooled connection
 * freeing up in time (PoolBusyError, overload). Such a call may succeed
 * when retried; its client gets SERVICE_UNAVAILABLE instead of a masked internal error.
 */
export function databaseUnavailable(error: unknown): boolean {
  for (let cause = error, depth = 0; typeof cause === 'object' && cause !== null && depth < 8; depth++) {
    const { code, message, driverError, originalError, thrownValue, cause: next } = cause as {
      code?: unknown;
      message?: unknown;
      driverError?: unknown;
      originalError?: unknown;
      /** graphql-js's NonErrorThrown: something thrown that is not an Error of this realm. */
      thrownValue?: unknown;
      cause?: unknown;
    };
    if (typeof code === 'string' && (UNAVAILABLE_STATES.test(code) || UNAVAILABLE_SYSCALLS.has(code))) return true;
    if (typeof message === 'string' && UNAVAILABLE_MESSAGES.test(message)) return true;
    // TypeORM's answers to a query on a transaction whose connection the server just terminated.
    if (RELEASED_RUNNER.has(String((cause as { name?: unknown }).name))) return true;
    if (Array.isArray((cause as { errors?: unknown }).errors)) return (cause as { errors: unknown[] }).errors.some(databaseUnavailable); // AggregateError (every address refused)
    cause = driverError ?? originalError ?? thrownValue ?? next;
  }
  return false;
}
