import { Arg, Authorized, Ctx, ID, Query, Resolver } from 'type-graphql';
import type { Context } from '../context';
import { assertNever } from '../errors';
import { fromGlobalId } from '../pagination/global-id';
import { AccountExport } from '../entities/account-export.entity';
import { Node } from '../pagination/node.type';
import { visibleConversation, visibleMessage } from './visibility';

@Resolver()
export class NodeResolver {
  @Authorized()
  @Query(() => Node, { nullable: true, description: 'Any object by its global id; null when it does not exist or is not visible to the viewer.' })
  async node(@Arg('id', () => ID) id: string, @Ctx() context: Context): Promise<Node | null> {
    const { type, id: rawId } = fromGlobalId(id);
    switch (type) {
      case 'User':
        return context.loaders.usersById.load(rawId);
      case 'Conversation':
        return visibleConversation(context, rawId);
      case 'Message':
        return visibleMessage(context, rawId);
      case 'AccountExport':
        return context.services.dataSource.getRepository(AccountExport).findOneBy({ id: rawId, userId: context.viewer!.id });
      default:
        return assertNever(type);
    }
  }
}
