import type { RequestHandler } from 'express';
import { ErrorCode } from '../errors';
import { sendGraphQLErrors } from './http-errors';

/**
 * Sheds load at the door: past `maxInFlight` GraphQL requests in progress on this instance, the
 * next one is answered at once with 503, `Retry-After` and SERVICE_UNAVAILABLE (retryAfterSeconds),
 * before its body is parsed or anything runs. Refusing is then far cheaper than serving, so a
 * burst past what the instance can do in time is turned away quickly instead of every request
 * waiting behind all the others; a client retries (sendMessage with the same clientMessageId is
 * stored once). Behind a load balancer, the retry may land on another instance.
 */
export function inFlightLimit(maxInFlight: number, onShed: () => void = () => undefined): RequestHandler {
  let inFlight = 0;
  return (req, res, next) => {
    if (inFlight >= maxInFlight) {
      onShed();
      // The body is not wanted; reading it keeps the connection usable for the next request.
      req.resume();
      res.setHeader('retry-after', '1');
      sendGraphQLErrors(req, res, 503, [
        { message: `This instance is busy (${maxInFlight} requests in progress, HTTP_MAX_IN_FLIGHT); retry shortly.`, extensions: { code: ErrorCode.SERVICE_UNAVAILABLE, retryAfterSeconds: 1 } },
      ]);
      return;
    }
    inFlight += 1;
    let counted = true;
    const done = () => {
      if (!counted) return;
      counted = false;
      inFlight -= 1;
    };
    res.once('finish', done);
    res.once('close', done);
    next();
  };
}
