import { Field, Int, ObjectType } from 'type-graphql';

/**
 * What a user has not read, over all their conversations: the sum of the counters PostgreSQL keeps
 * on each of their memberships (migration 1732380000000).
 */
@ObjectType({ description: 'What the viewer has not read, over all their conversations.', simpleResolvers: true })
export class UnreadTotal {
  @Field(() => Int, { description: 'Conversations with at least one unread message.' })
  conversations!: number;

  @Field(() => Int, { description: "Unread messages: someone else's, after the read marker, not deleted." })
  messages!: number;

  @Field(() => Int, { description: 'Unread messages that mention the viewer.' })
  mentions!: number;
}
