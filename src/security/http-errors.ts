import type { ErrorRequestHandler, Request, Response } from 'express';
import { ErrorCode } from '../errors';
import type { Logger } from '../observability/logger';

const JSON_TYPE = 'application/json';
const GRAPHQL_RESPONSE_TYPE = 'application/graphql-response+json';

/** Where `sendGraphQLErrors` leaves the codes it answered with, in `res.locals`. */
export const ERROR_CODES = 'parleyErrorCodes';

/**
 * Answers a refusal made before Apollo Server sees the request, as Apollo Server answers its own
 * (GraphQL over HTTP): `application/graphql-response+json` when the client prefers it, as Apollo
 * Client 4 does (it then reads a 4xx body as GraphQL errors with their codes, not as a bare
 * ServerError), else `application/json`.
 */
export function sendGraphQLErrors(req: Request, res: Response, status: number, errors: { message: string; extensions: { code: string } & Record<string, unknown> }[]): void {
  const type = req.accepts([JSON_TYPE, GRAPHQL_RESPONSE_TYPE]) || JSON_TYPE;
  // Answered before Apollo (and its formatError) saw the request: the request's record counts these codes.
  res.locals[ERROR_CODES] = errors.map((error) => error.extensions.code);
  res.status(status).type(`${type}; charset=utf-8`).send(JSON.stringify({ errors }));
}

/**
 * The last handler: whatever reached Express's default error page (an HTML page with a stack
 * outside production) answers as a JSON GraphQL error instead, masked, and is logged.
 */
export function createLastErrorHandler(logger: Logger): ErrorRequestHandler {
  return (error, req, res, next) => {
    if (res.headersSent) return next(error);
    logger.error({ err: error, path: req.path }, 'internal error');
    sendGraphQLErrors(req, res, 500, [{ message: 'Internal server error', extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR } }]);
  };
}

/**
 * Express's body parser fails before Apollo Server sees the request (a body over HTTP_BODY_LIMIT,
 * malformed JSON): answer those as GraphQL errors with their HTTP status (413, 400) instead of
 * Express's HTML error page.
 */
export const bodyErrorHandler: ErrorRequestHandler = (error, req, res, next) => {
  const status = (error as { status?: number; type?: string }).status;
  if (res.headersSent || typeof status !== 'number' || status < 400 || status >= 500) return next(error);
  const message =
    status === 413 ? `The request body is larger than this server accepts (${(error as { limit?: number }).limit} bytes).` : `The request body could not be read: ${(error as Error).message}`;
  sendGraphQLErrors(req, res, status, [{ message, extensions: { code: ErrorCode.BAD_REQUEST } }]);
};
