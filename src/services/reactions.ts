import type { Message } from '../entities/message.entity';
import { BadUserInputError, ForbiddenError } from '../errors';
import { requireOpen, type ChangeDeps } from './changes';
import { changeMessage } from './messages';

// One emoji as Unicode's RGI set defines it (skin tones, ZWJ sequences and flags included). The
// `v` flag is newer than the TypeScript target, hence the constructor.
const EMOJI = new RegExp('^\\p{RGI_Emoji}$', 'v');

/** The emoji, or BAD_USER_INPUT: exactly one emoji, at most 32 UTF-16 units (the column's size). */
export function checkEmoji(emoji: string): string {
  if (emoji.length > 32 || !EMOJI.test(emoji)) {
    throw new BadUserInputError(`emoji must be exactly one emoji, got ${JSON.stringify(emoji.slice(0, 40))}.`, {
      fields: [{ field: 'emoji', message: 'must be exactly one emoji' }],
    });
  }
  return emoji;
}

/** Reacts to a message (ReactionChanged, added); reacting again with the same emoji changes nothing. */
export function addReaction(deps: ChangeDeps, viewerId: string, messageId: string, emoji: string): Promise<Message> {
  checkEmoji(emoji);
  return changeMessage(deps, viewerId, messageId, async (change, message, conversation) => {
    requireOpen(conversation);
    if (message.deletedAt) throw new ForbiddenError('This message was deleted; it cannot take reactions.');
    const inserted = await change.manager.query(
      `INSERT INTO reactions (message_id, user_id, emoji) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING emoji`,
      [messageId, viewerId, emoji],
    );
    if (inserted.length > 0) await change.append(message.conversationId, 'ReactionChanged', { messageId, userId: viewerId, emoji, added: true });
    return message;
  });
}

/** Takes a reaction back (ReactionChanged, not added); taking back one that is not there changes nothing. */
export function removeReaction(deps: ChangeDeps, viewerId: string, messageId: string, emoji: string): Promise<Message> {
  checkEmoji(emoji);
  return changeMessage(deps, viewerId, messageId, async (change, message, conversation) => {
    requireOpen(conversation);
    const [, deleted] = await change.manager.query(`DELETE FROM reactions WHERE message_id = $1 AND user_id = $2 AND emoji = $3`, [
      messageId,
      viewerId,
      emoji,
    ]);
    if (deleted > 0) await change.append(message.conversationId, 'ReactionChanged', { messageId, userId: viewerId, emoji, added: false });
    return message;
  });
}
