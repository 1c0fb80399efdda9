import { randomUUID } from 'node:crypto';
import type { User } from '../../src/entities/user.entity';
import { toGlobalId } from '../../src/pagination/global-id';
import { runOperation } from '../helpers/gql';

/** A user as the API knows them: token plus global id. */
export interface Member {
  user: User;
  token: string;
}

export const globalUserId = (member: Member) => toGlobalId('User', member.user.id);

/** Creates a conversation through the API (the first member owns it); returns its global id. */
export async function openConversation(app: { url: string }, [owner, ...others]: Member[], kind: 'GROUP' | 'DIRECT' | 'SUPPORT' = 'GROUP'): Promise<string> {
  const response = await runOperation(
    app,
    'CreateConversation',
    { input: { kind, title: kind === 'DIRECT' ? null : 'Chat', memberIds: others.map(globalUserId) } },
    { token: owner.token },
  );
  if (response.errors) throw new Error(`CreateConversation failed: ${JSON.stringify(response.errors)}`);
  return response.data!.createConversation.id;
}

/** Sends a message through the API and returns it (`id`, `seq`, `body`, …). */
export async function sendMessage(app: { url: string }, author: Member, conversationId: string, body: string, clientMessageId = randomUUID()) {
  const response = await runOperation(app, 'SendMessage', { input: { conversationId, body, clientMessageId } }, { token: author.token });
  if (response.errors) throw new Error(`SendMessage failed: ${JSON.stringify(response.errors)}`);
  return response.data!.sendMessage as { id: string; seq: number; body: string | null };
}
