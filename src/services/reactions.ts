import type { MessageRecord } from '../entities/records';
import { BadUserInputError } from '../errors';
import { changeMessage, type SendDeps } from './messages';

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

/** Reacts to a message (open conversation, not deleted; ReactionChanged, added); reacting again with the same emoji changes nothing. */
export function addReaction(deps: SendDeps, viewerId: string, messageId: string, emoji: string): Promise<MessageRecord> {
  return changeMessage(deps, viewerId, messageId, 'react', checkEmoji(emoji));
}

/** Takes a reaction back (open conversation; ReactionChanged, not added); taking back one that is not there changes nothing. */
export function removeReaction(deps: SendDeps, viewerId: string, messageId: string, emoji: string): Promise<MessageRecord> {
  return changeMessage(deps, viewerId, messageId, 'unreact', checkEmoji(emoji));
}
