import { printSchemaWithDirectives } from '@graphql-tools/utils';
import { lexicographicSortSchema, specifiedDirectives, type GraphQLSchema } from 'graphql';
import { buildSchema, type PubSub } from 'type-graphql';
import { conversationEventResolvers } from './resolvers/conversation-event.resolver';
import { ConversationResolver } from './resolvers/conversation.resolver';
import { AccountResolver } from './resolvers/account.resolver';
import { InboxUpdateResolver } from './resolvers/inbox-update.resolver';
import { WebhookDeliveryResolver, WebhookEndpointResolver } from './resolvers/webhook.resolver';
import { MetricsResolver } from './resolvers/metrics.resolver';
import { PresenceEventResolver } from './resolvers/presence-event.resolver';
import { MessageResolver } from './resolvers/message.resolver';
import { NodeResolver } from './resolvers/node.resolver';
import { UserResolver } from './resolvers/user.resolver';
import { rateLimitDirective } from './directives/rate-limit.directive';
import { authChecker } from './resolvers/auth-checker';
import { DateTimeScalar } from './resolvers/date-time.scalar';
import { callResolversDirectly } from './resolvers/direct-calls';
import { markSharing } from './subscriptions/shared-execution';

export interface SchemaOptions {
  /**
   * type-graphql refuses to build subscriptions without one, though Parley's subscriptions open
   * their own streams on the bus (src/subscriptions/*-stream.ts) rather than type-graphql topics.
   */
  pubSub: PubSub;
}

/**
 * The executable schema. `schema.graphql` is this, printed (scripts/emit-schema.ts). Resolver
 * methods that need none of type-graphql's per-call machinery are called directly (direct-calls.ts).
 */
export async function buildParleySchema({ pubSub }: SchemaOptions): Promise<GraphQLSchema> {
  const schema = await buildSchema({
    resolvers: [UserResolver, ConversationResolver, MessageResolver, NodeResolver, ...conversationEventResolvers, InboxUpdateResolver, PresenceEventResolver, AccountResolver, MetricsResolver, WebhookEndpointResolver, WebhookDeliveryResolver],
    scalarsMap: [{ type: Date, scalar: DateTimeScalar }],
    validate: { forbidUnknownValues: false },
    authChecker,
    pubSub,
    // The built-in ones too: a schema given its own list has only those, and clients' @skip and
    // @include would fail validation.
    directives: [...specifiedDirectives, rateLimitDirective],
  });
  callResolversDirectly(schema);
  // Which fields subscribers may share a result of (subscriptions/shared-execution.ts).
  markSharing(schema);
  return schema;
}

/** The SDL committed as `schema.graphql`: sorted, with directive definitions and their uses. */
export async function printParleySchema(options: SchemaOptions): Promise<string> {
  return `${printSchemaWithDirectives(lexicographicSortSchema(await buildParleySchema(options)))}\n`;
}
