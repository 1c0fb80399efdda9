import { Arg, Authorized, Ctx, Field, FieldResolver, ID, ObjectType, Resolver, Root, Subscription, Extensions } from 'type-graphql';
import { viewerIndependent } from '../subscriptions/shared-execution';
import type { Context } from '../context';
import type { UserRecord } from '../entities/records';
import { User } from '../entities/user.entity';
import { fromGlobalIdOf } from '../pagination/global-id';
import { openPresenceStream } from '../subscriptions/presence-stream';
import type { PresenceChange } from '../events/topics';
import { subscribeWith } from './subscribe';

@ObjectType({ simpleResolvers: true })
export class PresenceEvent {
  userId!: string;

  @Field(() => Boolean)
  online!: boolean;

  @Field(() => Date, { nullable: true, description: 'When the user went offline; null while online.' })
  lastSeenAt!: Date | null;
}

@Resolver(() => PresenceEvent)
export class PresenceEventResolver {
  @Authorized()
  @Extensions(viewerIndependent)
  @Subscription(() => PresenceEvent, {
    description: "Online / offline changes of a conversation's members.",
    subscribe: subscribeWith(
      (args) => ({ conversationId: fromGlobalIdOf('Conversation', args.conversationId as string) }),
      ({ conversationId }, { services, viewer, queueBound }) => openPresenceStream({ bus: services.bus, dataSource: services.dataSource, conversationId, viewerId: viewer!.id, bound: queueBound }),
    ),
  })
  presence(@Root() change: PresenceChange, @Arg('conversationId', () => ID) _conversationId: string): PresenceEvent {
    return Object.assign(new PresenceEvent(), { userId: change.userId, online: change.online, lastSeenAt: change.online ? null : new Date(change.at) });
  }

  @Extensions(viewerIndependent)
  @FieldResolver(() => User)
  async user(@Root() event: PresenceEvent, @Ctx() { loaders }: Context): Promise<UserRecord> {
    return (await loaders.usersById.load(event.userId))!;
  }
}
