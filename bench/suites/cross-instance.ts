import { sendBody } from '../lib/send-load';
import { Fleet, settle, type FleetStats } from '../lib/fleet';
import type { Progress } from '../lib/progress';
import { startParley, type ServerProcess } from '../lib/server';
import { prepareConversations, SUBSCRIPTION } from './fanout';

export interface CrossInstanceResult {
  subscribers: number;
  rate: number;
  messages: number;
  /** One instance, in-process bus: publisher and subscribers on the same process. */
  sameInstance: FleetStats;
  /** Two instances on Redis: published through A, delivered by B. */
  crossInstance: FleetStats;
  addedP50Ms: number;
  addedP99Ms: number;
}


async function measure(publishTo: ServerProcess, subscribeTo: ServerProcess, setup: Awaited<ReturnType<typeof prepareConversations>>, options: { subscribers: number; rate: number; messages: number }) {
  const fleet = new Fleet();
  try {
    const conversation = setup.conversations[0];
    const { failed } = await fleet.connect({
      url: subscribeTo.url.replace(/^http/, 'ws'),
      count: options.subscribers,
      mode: 'graphql',
      tokens: conversation.subscribers,
      query: SUBSCRIPTION,
      variables: { id: conversation.id },
    });
    if (failed > 0) throw new Error(`${failed} subscribers could not connect`);
    const send = async () => {
      const response = await fetch(publishTo.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${conversation.publisher}` },
        body: sendBody(conversation),
      });
      if (!response.ok || (await response.text()).includes('"errors"')) throw new Error('sendMessage failed');
    };
    // Warm up until every subscription is live (subscribed without afterSeq: only what comes next).
    for (let received = 0; received < options.subscribers; received = (await fleet.stats()).received) {
      await fleet.reset();
      await send();
      await settle(fleet, options.subscribers, 2_000);
      if ((await fleet.stats()).received >= options.subscribers) break;
    }
    await fleet.reset();
    for (let i = 0; i < options.messages; i++) {
      await send();
      await new Promise((resolve) => setTimeout(resolve, 1000 / options.rate));
    }
    const stats = await settle(fleet, options.subscribers * options.messages);
    if (stats.received < options.subscribers * options.messages) throw new Error(`only ${stats.received} of ${options.subscribers * options.messages} deliveries`);
    return stats;
  } finally {
    await fleet.close();
  }
}

/**
 * S5: what delivery through Redis between two instances adds to delivery within one. The same
 * subscribers, rate and messages: first one instance with its in-process bus, then two instances
 * on Redis, publishing through one and subscribing through the other.
 */
export async function crossInstance(env: { databaseUrl: string; schema: string; redisUrl: string; progress: Progress }): Promise<CrossInstanceResult> {
  const options = { subscribers: 100, rate: 20, messages: 200 };
  const setup = await prepareConversations(env.databaseUrl, env.schema, 1, 20);

  env.progress.step('S5: one instance, in-process bus');
  const single = await startParley({ databaseUrl: env.databaseUrl, schema: env.schema });
  let sameInstance: FleetStats;
  try {
    sameInstance = await measure(single, single, setup, options);
  } finally {
    await single.stop();
  }

  env.progress.step('S5: two instances on Redis');
  const redis = { redisUrl: env.redisUrl, redisPrefix: `bench:${env.schema}:` };
  const a = await startParley({ databaseUrl: env.databaseUrl, schema: env.schema, ...redis });
  const b = await startParley({ databaseUrl: env.databaseUrl, schema: env.schema, ...redis });
  let crossInstance: FleetStats;
  try {
    crossInstance = await measure(a, b, setup, options);
  } finally {
    await Promise.all([a.stop(), b.stop()]);
  }
  return {
    ...options,
    sameInstance,
    crossInstance,
    addedP50Ms: crossInstance.p50 - sameInstance.p50,
    addedP99Ms: crossInstance.p99 - sameInstance.p99,
  };
}
