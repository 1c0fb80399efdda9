import { randomUUID } from 'node:crypto';
import autocannon from 'autocannon';
import { Fleet, settle, type FleetStats } from '../lib/fleet';
import type { Progress } from '../lib/progress';
import { startParley } from '../lib/server';
import { prepareConversations, SUBSCRIPTION } from './fanout';

const SEND = `mutation ($input: SendMessageInput!) { sendMessage(input: $input) { seq } }`;

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
}

export interface ChatResult {
  conversations: number;
  subscribers: number;
  steps: ChatStep[];
  /** The highest rate whose send→receive p99 stayed under 100 ms (target ≥ 1,000 msg/s). */
  highestRateUnder100ms: number;
}

/**
 * S6: chat end to end. 1,000 subscribers over 100 conversations (10 each); sendMessage at rising
 * fixed rates, round-robin over the conversations: the mutation's latency, the delay from send to
 * receipt, and the highest rate that keeps that delay's p99 under 100 ms.
 */
export async function chat(env: { databaseUrl: string; schema: string; rates: number[]; seconds: number; progress: Progress }): Promise<ChatResult> {
  const conversationCount = 100;
  const perConversation = 10;
  const { conversations } = await prepareConversations(env.databaseUrl, env.schema, conversationCount, perConversation);
  const server = await startParley({ databaseUrl: env.databaseUrl, schema: env.schema });
  const fleet = new Fleet();
  try {
    for (const conversation of conversations) {
      const { failed } = await fleet.connect({
        url: server.url.replace(/^http/, 'ws'),
        count: perConversation,
        mode: 'graphql',
        tokens: conversation.subscribers,
        query: SUBSCRIPTION,
        variables: { id: conversation.id, after: 0 },
      });
      if (failed > 0) throw new Error(`${failed} subscribers could not connect`);
    }
    const send = async (index: number) => {
      const conversation = conversations[index % conversations.length];
      const response = await fetch(server.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${conversation.publisher}` },
        body: JSON.stringify({ query: SEND, variables: { input: { conversationId: conversation.id, body: `t:${Date.now()}`, clientMessageId: randomUUID() } } }),
      });
      if ((await response.text()).includes('"errors"')) throw new Error('sendMessage failed');
    };
    // Warm up: one message per conversation reaches all 1,000 subscribers.
    await Promise.all(conversations.map((_, i) => send(i)));
    const warm = await settle(fleet, conversationCount * perConversation, 30_000);
    if (warm.received < conversationCount * perConversation) throw new Error(`warm-up reached ${warm.received} subscribers`);

    const steps: ChatStep[] = [];
    for (const rate of env.rates) {
      env.progress.step(`S6: ${rate} messages/s`);
      await fleet.reset();
      let next = 0;
      let bad = 0;
      const result = await autocannon({
        url: server.url,
        connections: 32,
        overallRate: rate,
        // A fixed amount, not a duration: every issued send is answered, so sent is exact.
        amount: rate * env.seconds,
        requests: [
          {
            method: 'POST',
            setupRequest: (request) => {
              const conversation = conversations[next++ % conversations.length];
              return {
                ...request,
                headers: { 'content-type': 'application/json', authorization: `Bearer ${conversation.publisher}` },
                body: JSON.stringify({ query: SEND, variables: { input: { conversationId: conversation.id, body: `t:${Date.now()}`, clientMessageId: randomUUID() } } }),
              };
            },
            onResponse: (status, body) => {
              if (status !== 200 || body.includes('"errors"')) bad += 1;
            },
          },
        ],
      });
      if (bad > 0 || result.errors > 0) throw new Error(`${bad} failed sends and ${result.errors} errors at ${rate}/s`);
      const sent = result['2xx'];
      const seconds = result.duration;
      const delivery = await settle(fleet, sent * perConversation, 30_000);
      steps.push({
        rate,
        achievedRate: Math.round(sent / seconds),
        sent,
        mutationP50: result.latency.p50,
        mutationP99: result.latency.p99,
        delivery,
        deliveredRatio: Math.round((delivery.received / (sent * perConversation)) * 10_000) / 10_000,
      });
    }
    const under = steps.filter((s) => s.delivery.p99 < 100 && s.deliveredRatio === 1 && s.achievedRate >= s.rate * 0.95);
    return { conversations: conversationCount, subscribers: conversationCount * perConversation, steps, highestRateUnder100ms: Math.max(0, ...under.map((s) => s.rate)) };
  } finally {
    await fleet.close();
    await server.stop();
  }
}
