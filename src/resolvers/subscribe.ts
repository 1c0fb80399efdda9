import type { SubscribeResolverData } from 'type-graphql';
import type { Context } from '../context';

/**
 * The `subscribe` of a subscription: its arguments read and checked once, when it starts, into the
 * typed shape `open` takes (graphql-js has coerced their types already; `read` checks ranges and
 * decodes ids). Events then resolve without looking at the arguments again.
 */
export function subscribeWith<Args, Event>(read: (args: Record<string, unknown>, context: Context) => Args, open: (args: Args, context: Context) => Promise<AsyncIterable<Event>> | AsyncIterable<Event>) {
  return ({ args, context }: SubscribeResolverData<unknown, Record<string, unknown>, unknown>) => open(read(args, context as Context), context as Context);
}
