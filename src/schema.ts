import { printSchemaWithDirectives } from '@graphql-tools/utils';
import { lexicographicSortSchema, type GraphQLSchema } from 'graphql';
import { DateTimeResolver } from 'graphql-scalars';
import { buildSchema, type PubSub } from 'type-graphql';
import { ConversationResolver } from './resolvers/conversation.resolver';
import { MessageResolver } from './resolvers/message.resolver';
import { NodeResolver } from './resolvers/node.resolver';
import { UserResolver } from './resolvers/user.resolver';
import { authChecker } from './security/auth';

export interface SchemaOptions {
  /** Needed once the schema has subscriptions; the SDL printer builds without one. */
  pubSub?: PubSub;
}

/** The executable schema. `schema.graphql` is this, printed (scripts/emit-schema.ts). */
export function buildParleySchema({ pubSub }: SchemaOptions = {}): Promise<GraphQLSchema> {
  return buildSchema({
    resolvers: [UserResolver, ConversationResolver, MessageResolver, NodeResolver],
    scalarsMap: [{ type: Date, scalar: DateTimeResolver }],
    validate: { forbidUnknownValues: false },
    authChecker,
    pubSub,
  });
}

/** The SDL committed as `schema.graphql`: sorted, with directive definitions and their uses. */
export async function printParleySchema(): Promise<string> {
  return `${printSchemaWithDirectives(lexicographicSortSchema(await buildParleySchema()))}\n`;
}
