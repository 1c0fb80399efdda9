import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import autocannon from 'autocannon';

/** The mutation every chat suite sends; the body carries `t:<ms>` so a subscriber can time its delivery. */
export const SEND = `mutation ($input: SendMessageInput!) { sendMessage(input: $input) { seq } }`;

/** A conversation to send to, and the token of a member who may. */
export interface SendTarget {
  /** Global id. */
  id: string;
  publisher: string;
}

/** A sendMessage request body for `conversation`, stamped with the time it is made. */
export const sendBody = (conversation: SendTarget, clientMessageId: string = randomUUID()) =>
  JSON.stringify({ query: SEND, variables: { input: { conversationId: conversation.id, body: `t:${Date.now()}`, clientMessageId } } });

export interface SendLoadResult {
  result: autocannon.Result;
  /** Answered without errors: stored. */
  stored: number;
  /** Refused with SERVICE_UNAVAILABLE (no pooled connection in time); a client sends those again. */
  refused: number;
  /** From the first send to the last answer. */
  seconds: number;
}

/**
 * sendMessage through `url` with autocannon, round-robin over `conversations`. Stored and refused
 * sends are counted; anything else fails the benchmark.
 */
export async function sendLoad(url: string, conversations: SendTarget[], options: { connections: number; overallRate?: number; amount?: number; duration?: number }): Promise<SendLoadResult> {
  let next = 0;
  let bad = 0;
  let refused = 0;
  let stored = 0;
  let firstBad = '';
  // autocannon's own duration runs to the rate tick after the last answer, a second past the load;
  // the rate is counted from the first send to the last answer instead.
  let firstSentAt = 0;
  let lastAnsweredAt = 0;
  const result = await autocannon({
    url,
    ...options,
    requests: [
      {
        method: 'POST',
        setupRequest: (request) => {
          firstSentAt ||= performance.now();
          const conversation = conversations[next++ % conversations.length];
          return { ...request, headers: { 'content-type': 'application/json', authorization: `Bearer ${conversation.publisher}` }, body: sendBody(conversation) };
        },
        onResponse: (status, body) => {
          lastAnsweredAt = performance.now();
          // A refusal comes as 200 (the mutation failed) or 503 (the request's context could not be made).
          if (body.includes('"SERVICE_UNAVAILABLE"')) refused += 1;
          else if (status === 200 && !body.includes('"errors"')) stored += 1;
          else {
            bad += 1;
            firstBad ||= `${status} ${body.slice(0, 300)}`;
          }
        },
      },
    ],
  });
  if (bad > 0 || result.errors > 0) throw new Error(`${bad} failed sends and ${result.errors} errors; first: ${firstBad}`);
  return { result, refused, stored, seconds: (lastAnsweredAt - firstSentAt) / 1000 };
}
