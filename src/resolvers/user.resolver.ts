import { Arg, Args, Authorized, Ctx, Directive, Extensions, Field, FieldResolver, ID, Mutation, ObjectType, Query, Resolver, Root } from 'type-graphql';
import { viewerDependent, viewerIndependent } from '../subscriptions/shared-execution';
import type { Context } from '../context';
import { User } from '../entities/user.entity';
import type { Timestamp, UserRecord } from '../entities/records';
import { loadConnection, nodeEdge, type Connection, type Edge } from '../pagination/connection';
import type { CursorKey } from '../pagination/cursor';
import { toGlobalId } from '../pagination/global-id';
import { ForwardPageArgs, toPageRequest } from '../pagination/page-args';
import { authenticate, createAccount, findUserByHandle, searchUsers } from '../services/accounts';
import { refreshSession, revokeSession, startSession, type SessionGrant } from '../services/sessions';
import { UserConnection } from './connections';
import { UnreadTotal } from './unread-total.type';
import type { UnreadTotalRow } from '../loaders/unread-totals.loader';
import { BadUserInputError, ForbiddenError } from '../errors';
import { SignInInput, SignUpInput } from './user.inputs';

const MAX_SEARCH_LENGTH = 100;

@ObjectType({ simpleResolvers: true })
class AuthPayload {
  @Field(() => String, { description: 'The access token: `Authorization: Bearer <token>`, short-lived (JWT_TTL, 15 minutes by default).' })
  token!: string;

  @Field(() => String, { description: 'Trades for a new pair with refreshSession; good once. Keep it out of reach of scripts.' })
  refreshToken!: string;

  @Field(() => User)
  user!: User;
}

@Resolver(() => User)
export class UserResolver {
  @Query(() => User, { nullable: true, description: 'The signed-in user; null without a valid token.' })
  async me(@Ctx() { viewer, loaders }: Context): Promise<UserRecord | null> {
    return viewer ? loaders.usersById.load(viewer.id) : null;
  }

  @Authorized()
  @Query(() => User, { nullable: true })
  user(@Arg('handle', () => String) handle: string, @Ctx() { services }: Context): Promise<User | null> {
    return findUserByHandle(services.dataSource, handle);
  }

  @Authorized()
  @Directive('@rateLimit(max: 60, window: "1m")')
  @Query(() => UserConnection, { description: 'Users whose handle or display name starts with `search`, in handle order.' })
  async users(
    @Arg('search', () => String, { nullable: true }) search: string | null,
    @Args(() => ForwardPageArgs) args: ForwardPageArgs,
    @Ctx() { services }: Context,
  ): Promise<Connection<Edge<UserRecord>>> {
    const request = toPageRequest(args);
    const prefix = search?.trim() || null;
    if (prefix && prefix.length > MAX_SEARCH_LENGTH) {
      throw new BadUserInputError(`search must be at most ${MAX_SEARCH_LENGTH} characters, got ${prefix.length}.`, { argument: 'search' });
    }
    const list = `users:${prefix?.toLowerCase() ?? '*'}`;
    const load = (cursorKey: CursorKey | null) => searchUsers(services.sql, prefix, request, cursorKey);
    return loadConnection(services.cursors, list, request, load, nodeEdge);
  }

  @Directive('@rateLimit(max: 5, window: "1m")')
  @Mutation(() => AuthPayload)
  async signUp(@Arg('input', () => SignUpInput) input: SignUpInput, @Ctx() { services }: Context): Promise<AuthPayload> {
    requirePasswordAccounts(services);
    const user = await createAccount(services.dataSource, input);
    return grantFor(services, user, await startSession(services, user.id, services.config.auth.refreshTtlMs));
  }

  @Directive('@rateLimit(max: 10, window: "1m")')
  @Mutation(() => AuthPayload)
  async signIn(@Arg('input', () => SignInInput) input: SignInInput, @Ctx() { services }: Context): Promise<AuthPayload> {
    requirePasswordAccounts(services);
    const user = await authenticate(services.dataSource, input.login, input.password);
    return grantFor(services, user, await startSession(services, user.id, services.config.auth.refreshTtlMs));
  }

  @Directive('@rateLimit(max: 30, window: "1m")')
  @Mutation(() => AuthPayload, {
    description: 'A new access token and refresh token for a refresh token, which is then spent. A spent one presented again revokes its session (UNAUTHENTICATED).',
  })
  async refreshSession(@Arg('refreshToken', () => String) refreshToken: string, @Ctx() { services }: Context): Promise<AuthPayload> {
    requirePasswordAccounts(services);
    const grant = await refreshSession(services, refreshToken, services.config.auth.refreshTtlMs);
    const user = await services.dataSource.getRepository(User).findOneByOrFail({ id: grant.userId });
    return grantFor(services, user, grant);
  }

  @Authorized()
  @Directive('@rateLimit(max: 30, window: "1m")')
  @Mutation(() => Boolean, {
    description: "Signs this token's session out: its tokens stop working and its sockets close (4403) on every instance. False for a token of the identity provider, which signs out there.",
  })
  async signOut(@Ctx() { services, viewer }: Context): Promise<boolean> {
    if (!viewer!.sessionId) return false;
    await revokeSession(services, viewer!.sessionId, 'signed out');
    // Other instances forget it when the revocation is announced; this one at once.
    services.sessions.forget(viewer!.sessionId);
    return true;
  }

  @Extensions(viewerDependent)
  @FieldResolver(() => Boolean, { description: 'True while the user has a live connection to any instance. Always false to viewers who share no conversation with the user.' })
  async online(@Root() user: UserRecord, @Ctx() { loaders }: Context): Promise<boolean> {
    const [visible, online] = await Promise.all([loaders.acquaintances.load(user.id), loaders.onlineByUserId.load(user.id)]);
    return visible && online;
  }

  @Extensions(viewerDependent)
  @FieldResolver(() => Date, { nullable: true, description: 'When the last connection closed. Null to viewers who share no conversation with the user.' })
  async lastSeenAt(@Root() user: UserRecord, @Ctx() { loaders }: Context): Promise<Timestamp | null> {
    return (await loaders.acquaintances.load(user.id)) ? user.lastSeenAt : null;
  }

  @Extensions(viewerIndependent)
  @FieldResolver(() => ID)
  id(@Root() user: UserRecord): string {
    return toGlobalId('User', user.id);
  }

  @Extensions(viewerDependent)
  @FieldResolver(() => UnreadTotal, { nullable: true, description: 'What the user has not read, over all their conversations. Only on `me`; null for everyone else.' })
  unreadTotal(@Root() user: UserRecord, @Ctx() { viewer, loaders }: Context): Promise<UnreadTotalRow> | null {
    return viewer?.id === user.id ? loaders.unreadTotals.load(user.id) : null;
  }

  @Extensions(viewerDependent)
  @FieldResolver(() => String, { nullable: true, description: 'Only visible to the user themself; null for everyone else.' })
  email(@Root() user: UserRecord, @Ctx() { viewer, loaders }: Context): string | null | Promise<string | null> {
    if (viewer?.id !== user.id) return null;
    // An author as an event carries it has no e-mail (events/topics.ts, MessagePayload).
    return user.email ?? loaders.usersById.load(user.id).then((found) => found?.email ?? null);
  }
}

async function grantFor(services: Context['services'], user: User, grant: SessionGrant): Promise<AuthPayload> {
  return { token: await services.tokens.issue(user.id, grant.sessionId), refreshToken: grant.refreshToken, user };
}

/** With AUTH_PASSWORDS=off, accounts come only from the external identity provider. */
function requirePasswordAccounts(services: Context['services']): void {
  if (!services.config.auth.passwords) throw new ForbiddenError('Password accounts are turned off here: sign in with the identity provider.');
}
