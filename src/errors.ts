import { unwrapResolverError } from '@apollo/server/errors';
import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import { ArgumentValidationError } from 'type-graphql';
import type { ValidationError } from 'class-validator';

/** Every `extensions.code` a client can see. Clients may switch on these; never rename one. */
export enum ErrorCode {
  UNAUTHENTICATED = 'UNAUTHENTICATED',
  FORBIDDEN = 'FORBIDDEN',
  NOT_FOUND = 'NOT_FOUND',
  BAD_USER_INPUT = 'BAD_USER_INPUT',
  RATE_LIMITED = 'RATE_LIMITED',
  PERSISTED_QUERY_NOT_FOUND = 'PERSISTED_QUERY_NOT_FOUND',
  PERSISTED_QUERY_NOT_ALLOWED = 'PERSISTED_QUERY_NOT_ALLOWED',
  /** APQ sent to a server with PERSISTED_QUERIES=off (Apollo's code; its client then sends documents). */
  PERSISTED_QUERY_NOT_SUPPORTED = 'PERSISTED_QUERY_NOT_SUPPORTED',
  QUERY_TOO_COMPLEX = 'QUERY_TOO_COMPLEX',
  CONFLICT = 'CONFLICT',
  INTERNAL_SERVER_ERROR = 'INTERNAL_SERVER_ERROR',
  /** Apollo Server's own codes for documents that do not parse or do not validate against the schema. */
  GRAPHQL_PARSE_FAILED = 'GRAPHQL_PARSE_FAILED',
  GRAPHQL_VALIDATION_FAILED = 'GRAPHQL_VALIDATION_FAILED',
  BAD_REQUEST = 'BAD_REQUEST',
  OPERATION_RESOLUTION_FAILURE = 'OPERATION_RESOLUTION_FAILURE',
  /** A dependency (PostgreSQL) is unreachable or restarting: retry shortly (mutations with their idempotency key). */
  SERVICE_UNAVAILABLE = 'SERVICE_UNAVAILABLE',
}

const CLIENT_CODES = new Set<string>(Object.values(ErrorCode).filter((c) => c !== ErrorCode.INTERNAL_SERVER_ERROR));

export class AppError extends GraphQLError {
  constructor(code: ErrorCode, message: string, extensions: Record<string, unknown> = {}, httpStatus?: number) {
    super(message, { extensions: { code, ...extensions, ...(httpStatus ? { http: { status: httpStatus } } : {}) } });
  }
}

export class UnauthenticatedError extends AppError {
  constructor(message = 'You must be signed in to do this.', httpStatus?: number) {
    super(ErrorCode.UNAUTHENTICATED, message, {}, httpStatus);
  }
}

export class ForbiddenError extends AppError {
  constructor(message = 'You are not allowed to do this.') {
    super(ErrorCode.FORBIDDEN, message);
  }
}

export class NotFoundError extends AppError {
  constructor(message: string) {
    super(ErrorCode.NOT_FOUND, message);
  }
}

export class BadUserInputError extends AppError {
  constructor(message: string, extensions: Record<string, unknown> = {}) {
    super(ErrorCode.BAD_USER_INPUT, message, extensions);
  }
}

export class ConflictError extends AppError {
  constructor(message: string, extensions: Record<string, unknown> = {}) {
    super(ErrorCode.CONFLICT, message, extensions);
  }
}

export class RateLimitedError extends AppError {
  constructor(what: string, limit: { max: number; windowMs: number }, retryAfterMs: number) {
    const retryAfterSeconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
    super(ErrorCode.RATE_LIMITED, `Too many calls of ${what}: at most ${limit.max} per ${limit.windowMs / 1000}s. Try again in ${retryAfterSeconds}s.`, {
      retryAfterSeconds,
    });
  }
}

export class ServiceUnavailableError extends AppError {
  constructor(message: string, httpStatus?: number) {
    super(ErrorCode.SERVICE_UNAVAILABLE, message, { retryAfterSeconds: 1 }, httpStatus);
  }
}

/** Flattens class-validator's nested errors into `field.path: reason` lines. */
function describeValidation(errors: ValidationError[], prefix = ''): { field: string; message: string }[] {
  return errors.flatMap((e) => {
    const field = prefix ? `${prefix}.${e.property}` : e.property;
    const own = Object.values(e.constraints ?? {}).map((message) => ({ field, message }));
    return [...own, ...describeValidation(e.children ?? [], field)];
  });
}

export interface FormatErrorOptions {
  /** Mask unknown errors: no message, stack, SQL or driver text reaches the client. */
  production: boolean;
  /** Whether an error means a dependency is away (PostgreSQL unreachable): SERVICE_UNAVAILABLE, not a bug. */
  unavailable(error: unknown): boolean;
}

/**
 * The single place where errors become what clients see. Known errors keep their code and message;
 * class-validator failures become BAD_USER_INPUT naming each field; anything else is an internal
 * error — masked in production, where its details only go to the log (see the logging plugin).
 */
export function createFormatError({ production, unavailable }: FormatErrorOptions) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const original = unwrapResolverError(error);
    if (original instanceof ArgumentValidationError) {
      const fields = describeValidation(original.extensions.validationErrors);
      return {
        message: fields.map((f) => `${f.field}: ${f.message}`).join('; ') || 'Invalid input.',
        locations: formatted.locations,
        path: formatted.path,
        extensions: { code: ErrorCode.BAD_USER_INPUT, fields },
      };
    }
    if (unavailable(original)) {
      return {
        message: 'The database is unavailable or busy right now; retry shortly.',
        locations: formatted.locations,
        path: formatted.path,
        extensions: { code: ErrorCode.SERVICE_UNAVAILABLE, retryAfterSeconds: 1 },
      };
    }
    const code = ownCode(error) ?? formatted.extensions?.code;
    if (typeof code === 'string' && CLIENT_CODES.has(code)) {
      // `http` sets an HTTP status (Apollo Server reads it); it is no part of the error a client sees.
      const { http: _http, ...own } = formatted.extensions ?? {};
      if (!production) return { ...formatted, extensions: { ...own, code } };
      const { stacktrace: _stacktrace, ...extensions } = own;
      // Field suggestions would let a client map a schema whose introspection is off.
      return { ...formatted, message: formatted.message.replace(/ ?Did you mean .+\?$/, ''), extensions: { ...extensions, code } };
    }
    if (!production) return { ...formatted, extensions: { ...formatted.extensions, code: ErrorCode.INTERNAL_SERVER_ERROR } };
    return {
      message: 'Internal server error',
      locations: formatted.locations,
      path: formatted.path,
      extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR },
    };
  };
}

/**
 * The code Parley itself gave an error, where Apollo Server re-coded it: a query limit found during
 * validation arrives as GRAPHQL_VALIDATION_FAILED wrapping our AppError, and the parser's token
 * limit as GRAPHQL_PARSE_FAILED, though it is a query limit like the others.
 */
function ownCode(error: unknown): string | undefined {
  for (let cause = error; cause instanceof Error; cause = (cause as GraphQLError).originalError) {
    if (cause instanceof AppError) return cause.extensions.code as string;
    if (isTokenLimitError(cause)) return ErrorCode.QUERY_TOO_COMPLEX;
    if (!(cause instanceof GraphQLError)) break;
    // Apollo's request errors without a code (an APQ hash that does not match its document, an
    // unknown APQ version) carry their 4xx status instead: the client's fault, so BAD_REQUEST.
    const status = (cause.extensions?.http as { status?: number } | undefined)?.status;
    if (!cause.extensions?.code && status !== undefined && status >= 400 && status < 500) return ErrorCode.BAD_REQUEST;
  }
  return undefined;
}

/** True for errors that `createFormatError` passes through as client errors. */
export function isClientError(error: unknown): boolean {
  const original = unwrapResolverError(error);
  if (original instanceof ArgumentValidationError) return true;
  // The code formatError gives it: Apollo's own 4xx refusals without one (an APQ hash that does not
  // match its document) are the client's too, and must not be logged as internal errors.
  const code = ownCode(error) ?? (original instanceof GraphQLError ? original.extensions?.code : undefined);
  return typeof code === 'string' && CLIENT_CODES.has(code);
}

/** graphql-js's message when a document has more tokens than `maxTokens` (QUERY_MAX_TOKENS) allows. */
export function isTokenLimitError(error: { message: string }): boolean {
  return /Document contains more that? \d+ tokens/.test(error.message);
}

export function assertNever(value: never): never {
  throw new Error(`Unexpected value: ${JSON.stringify(value)}`);
}
