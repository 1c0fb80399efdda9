import type { ErrorRequestHandler } from 'express';
import { ErrorCode } from '../errors';
import type { Logger } from '../observability/logger';

/**
 * The last handler: whatever reached Express's default error page (an HTML page with a stack
 * outside production) answers as a JSON GraphQL error instead, masked, and is logged.
 */
export function createLastErrorHandler(logger: Logger): ErrorRequestHandler {
  return (error, req, res, next) => {
    if (res.headersSent) return next(error);
    logger.error({ err: error, path: req.path }, 'internal error');
    res.status(500).json({ errors: [{ message: 'Internal server error', extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR } }] });
  };
}

/**
 * Express's body parser fails before Apollo Server sees the request (a body over HTTP_BODY_LIMIT,
 * malformed JSON): answer those as GraphQL errors with their HTTP status (413, 400) instead of
 * Express's HTML error page.
 */
export const bodyErrorHandler: ErrorRequestHandler = (error, _req, res, next) => {
  const status = (error as { status?: number; type?: string }).status;
  if (res.headersSent || typeof status !== 'number' || status < 400 || status >= 500) return next(error);
  const message =
    status === 413 ? `The request body is larger than this server accepts (${(error as { limit?: number }).limit} bytes).` : `The request body could not be read: ${(error as Error).message}`;
  res.status(status).json({ errors: [{ message, extensions: { code: ErrorCode.BAD_REQUEST } }] });
};
