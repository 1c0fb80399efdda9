import { Authorized, Ctx, Extensions, Field, FieldResolver, Int, ObjectType, Resolver, Root, Subscription } from 'type-graphql';
import { viewerDependent, viewerIndependent } from '../subscriptions/shared-execution';
import type { Context } from '../context';
import type { ConversationRecord } from '../entities/records';
import { Conversation } from '../entities/conversation.entity';
import { UnreadTotal } from './unread-total.type';
import type { UnreadTotalRow } from '../loaders/unread-totals.loader';
import { openInboxStream, type InboxItem } from '../subscriptions/inbox-stream';

@ObjectType({ simpleResolvers: true })
export class InboxUpdate {
  conversationId!: string;

  @Field(() => Boolean, { description: 'True when the viewer was removed or left; the client should drop the conversation.' })
  removed!: boolean;
}

@Resolver(() => InboxUpdate)
export class InboxUpdateResolver {
  @Authorized()
  @Extensions(viewerIndependent)
  @Subscription(() => InboxUpdate, {
    description: "Changes to any of the viewer's conversations (new message, membership, status, read marker).",
    subscribe: ({ context }) => {
      const { services, viewer, queueBound } = context as Context;
      return openInboxStream({ bus: services.bus, dataSource: services.dataSource, viewerId: viewer!.id, bound: queueBound });
    },
  })
  inboxUpdates(@Root() item: InboxItem): InboxUpdate {
    return Object.assign(new InboxUpdate(), item);
  }

  @Extensions(viewerIndependent)
  @FieldResolver(() => Conversation)
  async conversation(@Root() update: InboxUpdate, @Ctx() { loaders }: Context): Promise<ConversationRecord> {
    return (await loaders.conversationsById.load(update.conversationId))!;
  }

  @Extensions(viewerDependent)
  @FieldResolver(() => Int, { description: "The viewer's unread count in it now (0 once removed)." })
  async unreadCount(@Root() update: InboxUpdate, @Ctx() { loaders }: Context): Promise<number> {
    return update.removed ? 0 : ((await loaders.viewerMembership.load(update.conversationId))?.unreadMessages ?? 0);
  }

  @Extensions(viewerDependent)
  @FieldResolver(() => Int, { description: 'Unread messages in it that mention the viewer (0 once removed): a badge for "you were mentioned".' })
  async unreadMentionCount(@Root() update: InboxUpdate, @Ctx() { loaders }: Context): Promise<number> {
    return update.removed ? 0 : ((await loaders.viewerMembership.load(update.conversationId))?.unreadMentions ?? 0);
  }

  @Extensions(viewerDependent)
  @FieldResolver(() => UnreadTotal, { description: "The viewer's unread totals over all their conversations, as of this update." })
  unreadTotal(@Ctx() { loaders, viewer }: Context): Promise<UnreadTotalRow> {
    return loaders.unreadTotals.load(viewer!.id);
  }
}
