import { Arg, Authorized, Ctx, ID, Query, Resolver } from 'type-graphql';
import type { Context } from '../context';
import { assertNever } from '../errors';
import { fromGlobalId } from '../pagination/global-id';
import { AccountExport } from '../entities/account-export.entity';
import { Conversation } from '../entities/conversation.entity';
import { Message } from '../entities/message.entity';
import { User } from '../entities/user.entity';
import { Node } from '../pagination/node.type';
import { visibleConversation, visibleMessage } from './visibility';

@Resolver()
export class NodeResolver {
  @Authorized()
  @Query(() => Node, { nullable: true, description: 'Any object by its global id; null when it does not exist or is not visible to the viewer.' })
  async node(@Arg('id', () => ID) id: string, @Ctx() context: Context): Promise<Node | null> {
    const { type, id: rawId } = fromGlobalId(id);
    // Loaders answer plain records; the Node interface tells types apart by class (instanceof).
    switch (type) {
      case 'User':
        return instance(User, await context.loaders.usersById.load(rawId));
      case 'Conversation':
        return instance(Conversation, await visibleConversation(context, rawId));
      case 'Message':
        return instance(Message, await visibleMessage(context, rawId));
      case 'AccountExport':
        return context.services.dataSource.getRepository(AccountExport).findOneBy({ id: rawId, userId: context.viewer!.id });
      case 'WebhookEndpoint':
      case 'WebhookDelivery':
        return null;
      default:
        return assertNever(type);
    }
  }
}

function instance<T extends object>(type: new () => T, record: object | null): T | null {
  return record && Object.assign(new type(), record);
}
