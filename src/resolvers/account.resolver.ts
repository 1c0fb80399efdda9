import { Arg, Authorized, Ctx, Directive, FieldResolver, ID, Mutation, Query, Resolver, Root } from 'type-graphql';
import { GraphQLJSONObject } from 'graphql-scalars';
import type { Context } from '../context';
import { AccountExport, AccountExportStatus } from '../entities/account-export.entity';
import { fromGlobalIdOf, toGlobalId } from '../pagination/global-id';
import { requestAccountExport } from '../jobs/account-export.job';
import { deleteAccount } from '../services/account-data';

@Resolver(() => AccountExport)
export class AccountResolver {
  @Authorized()
  @Directive('@rateLimit(max: 3, window: "1h")')
  @Mutation(() => AccountExport, { description: 'Starts a copy of your data (profile, memberships, messages); poll accountExport(id) until READY.' })
  requestAccountExport(@Ctx() { services, viewer }: Context): Promise<AccountExport> {
    return requestAccountExport(services, viewer!.id);
  }

  @Authorized()
  @Query(() => AccountExport, { nullable: true, description: 'One of your exports; null for anyone else’s.' })
  async accountExport(@Arg('id', () => ID) id: string, @Ctx() { services, viewer }: Context): Promise<AccountExport | null> {
    return services.dataSource.getRepository(AccountExport).findOneBy({ id: fromGlobalIdOf('AccountExport', id), userId: viewer!.id });
  }

  @Authorized()
  @Directive('@rateLimit(max: 5, window: "1h")')
  @Mutation(() => Boolean, {
    description: 'Erases your account: you leave every conversation, your profile is anonymised, your messages stay under "Deleted user", and your tokens stop working.',
  })
  async deleteAccount(@Arg('password', () => String) password: string, @Ctx() { services, viewer }: Context): Promise<boolean> {
    await deleteAccount(services, viewer!, password);
    // Other instances forget the account when the erasure is announced; this one at once.
    services.accounts.forget(viewer!.id);
    services.externalTokens?.forget(viewer!.id);
    return true;
  }

  @FieldResolver(() => ID)
  id(@Root() accountExport: AccountExport): string {
    return toGlobalId('AccountExport', accountExport.id);
  }

  @FieldResolver(() => GraphQLJSONObject, { nullable: true, description: 'The export, once READY.' })
  document(@Root() accountExport: AccountExport): Record<string, unknown> | null {
    return accountExport.status === AccountExportStatus.READY ? accountExport.document : null;
  }
}
