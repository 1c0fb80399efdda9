import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Client } from 'pg';
import { latencyHistogram } from '../lib/histogram';
import { sendBody, sendLoad } from '../lib/send-load';
import { Fleet, settle, type FleetStats } from '../lib/fleet';
import type { Progress } from '../lib/progress';
import { startParley } from '../lib/server';
import { prepareConversations, subscribeMembers, type PreparedConversation } from './fanout';


export interface ChatStep {
  /** Messages per second asked of the load generator, and what it achieved. */
  rate: number;
  achievedRate: number;
  sent: number;
  /** sendMessage round trip, ms. */
  mutationP50: number;
  mutationP99: number;
  /** From send to a subscriber's receipt, ms. */
  delivery: FleetStats;
  deliveredRatio: number;
  /** Sends refused with SERVICE_UNAVAILABLE (overload: no pooled connection in time); a client retries them. */
  refused: number;
}

/**
 * The same sends from 512 clients at once, each sending its next message as soon as the last was
 * stored: overload, refused rather than queued. A refused send (SERVICE_UNAVAILABLE) is sent again
 * with the same clientMessageId after `retryAfterSeconds` (with jitter), as the client guide says.
 */
export interface OverloadStep {
  inFlight: number;
  /** Messages each client sends. */
  perClient: number;
  /** Answers per second, stored and refused. */
  answeredRate: number;
  /** Messages stored per second, from the first send to the last message stored. */
  storedRate: number;
  stored: number;
  refused: number;
  refusedShare: number;
  /** Every answer's round trip, stored or refused, ms (target p99 < 1 s). */
  mutationP50: number;
  mutationP99: number;
  /** From a message's first attempt to its being stored, retries and waits included, ms. */
  messageP99: number;
  deliveredRatio: number;
  /** Messages stored more than once for one clientMessageId (must be 0). */
  duplicates: number;
  /** The clientMessageIds sent (checked, then dropped from the results). */
  keys?: string[];
}

export interface ChatResult {
  conversations: number;
  subscribers: number;
  steps: ChatStep[];
  overload: OverloadStep;
  /** The highest rate whose send→receive p99 stayed under 100 ms (target ≥ 1,000 msg/s). */
  highestRateUnder100ms: number;
}

/**
 * S6: chat end to end. 1,000 subscribers over 100 conversations (10 each); sendMessage at rising
 * fixed rates, round-robin over the conversations: the mutation's latency, the delay from send to
 * receipt, and the highest rate that keeps that delay's p99 under 100 ms; then 512 sends in flight
 * at once, where what the pool cannot take in time is refused (SERVICE_UNAVAILABLE), not queued.
 */
export async function chat(env: { databaseUrl: string; schema: string; rates: number[]; seconds: number; progress: Progress }): Promise<ChatResult> {
  const conversationCount = 100;
  const perConversation = 10;
  const { conversations } = await prepareConversations(env.databaseUrl, env.schema, conversationCount, perConversation);
  const server = await startParley({ databaseUrl: env.databaseUrl, schema: env.schema });
  const fleet = new Fleet();
  try {
    await subscribeMembers(fleet, server.url.replace(/^http/, 'ws'), conversations, perConversation);
    const send = async (index: number) => {
      const conversation = conversations[index % conversations.length];
      const body = sendBody(conversation);
      // A refusal under load (SERVICE_UNAVAILABLE) is sent again with the same clientMessageId, as clients do.
      for (let attempt = 0; ; attempt++) {
        const response = await fetch(server.url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${conversation.publisher}` }, body });
        const text = await response.text();
        if (!text.includes('"errors"')) return;
        if (!text.includes('SERVICE_UNAVAILABLE') || attempt >= 5) throw new Error(`sendMessage failed: ${text.slice(0, 500)}`);
        await new Promise((resolve) => setTimeout(resolve, 200 * (attempt + 1)));
      }
    };
    // Warm up: one message per conversation reaches all 1,000 subscribers.
    await Promise.all(conversations.map((_, i) => send(i)));
    const warm = await settle(fleet, conversationCount * perConversation, 30_000);
    if (warm.received < conversationCount * perConversation) throw new Error(`warm-up reached ${warm.received} subscribers`);

    const steps: ChatStep[] = [];
    for (const rate of env.rates) {
      env.progress.step(`S6: ${rate} messages/s`);
      await fleet.reset();
      // A fixed amount, not a duration: every issued send is answered, so the counts are exact.
      const { result, refused, stored, seconds } = await sendLoad(server.url, conversations, { connections: 32, overallRate: rate, amount: rate * env.seconds });
      const delivery = await settle(fleet, stored * perConversation, 30_000);
      steps.push({
        rate,
        achievedRate: Math.round(stored / seconds),
        sent: stored,
        mutationP50: result.latency.p50,
        mutationP99: result.latency.p99,
        delivery,
        deliveredRatio: Math.round((delivery.received / Math.max(1, stored * perConversation)) * 10_000) / 10_000,
        refused,
      });
    }

    env.progress.step('S6: 512 sends in flight');
    await fleet.reset();
    const overload = await overloadStep(server.url, conversations, 512, 10);
    const delivered = await settle(fleet, overload.stored * perConversation, 60_000);
    overload.deliveredRatio = Math.round((delivered.received / Math.max(1, overload.stored * perConversation)) * 10_000) / 10_000;
    overload.duplicates = await duplicatesOf(env.databaseUrl, env.schema, overload.keys!);
    delete overload.keys;
    const under = steps.filter((s) => s.delivery.p99 < 100 && s.deliveredRatio === 1 && s.achievedRate >= s.rate * 0.95);
    return { conversations: conversationCount, subscribers: conversationCount * perConversation, steps, overload, highestRateUnder100ms: Math.max(0, ...under.map((s) => s.rate)) };
  } finally {
    await fleet.close();
    await server.stop();
  }
}

/** 512 clients sending `perClient` messages each; see OverloadStep. */
async function overloadStep(url: string, conversations: PreparedConversation[], clients: number, perClient: number): Promise<OverloadStep> {
  const answers = latencyHistogram();
  const messages = latencyHistogram();
  const keys: string[] = [];
  let stored = 0;
  let refused = 0;
  let next = 0;
  const started = performance.now();
  const client = async () => {
    for (let m = 0; m < perClient; m++) {
      const conversation = conversations[next++ % conversations.length];
      const key = randomUUID();
      keys.push(key);
      const body = sendBody(conversation, key);
      const first = performance.now();
      for (;;) {
        const sent = performance.now();
        const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${conversation.publisher}` }, body });
        const text = await response.text();
        answers.recordValue(Math.max(1, Math.round((performance.now() - sent) * 1000)));
        if (!text.includes('"errors"')) break;
        const retryAfter = /"retryAfterSeconds":(\d+)/.exec(text);
        if (!text.includes('"SERVICE_UNAVAILABLE"') || !retryAfter) throw new Error(`sendMessage failed: ${response.status} ${text.slice(0, 300)}`);
        refused += 1;
        await new Promise((resolve) => setTimeout(resolve, Number(retryAfter[1]) * 1000 * (1 + Math.random() / 2)));
      }
      stored += 1;
      messages.recordValue(Math.max(1, Math.round((performance.now() - first) * 1000)));
    }
  };
  await Promise.all(Array.from({ length: clients }, client));
  const seconds = (performance.now() - started) / 1000;
  const ms = (histogram: ReturnType<typeof latencyHistogram>, percentile: number) => Math.round(histogram.getValueAtPercentile(percentile) / 100) / 10;
  return {
    inFlight: clients,
    perClient,
    answeredRate: Math.round((stored + refused) / seconds),
    storedRate: Math.round(stored / seconds),
    stored,
    refused,
    refusedShare: Math.round((refused / Math.max(1, stored + refused)) * 1000) / 1000,
    mutationP50: ms(answers, 50),
    mutationP99: ms(answers, 99),
    messageP99: ms(messages, 99),
    deliveredRatio: 0,
    duplicates: 0,
    keys,
  };
}

/** Messages stored more than once for one of `keys` (one per author and key is the guarantee). */
async function duplicatesOf(databaseUrl: string, schema: string, keys: string[]): Promise<number> {
  const db = new Client({ connectionString: databaseUrl, options: `-c search_path=${schema}` });
  await db.connect();
  try {
    const { rows } = await db.query(`SELECT count(*)::int - count(DISTINCT client_message_id)::int AS duplicates, count(*)::int AS total FROM messages WHERE client_message_id = ANY($1)`, [keys]);
    if (rows[0].total !== keys.length) throw new Error(`${keys.length} messages sent, ${rows[0].total} stored`);
    return rows[0].duplicates;
  } finally {
    await db.end();
  }
}
