import type { DataSource } from 'typeorm';
import { entityColumns, hydrateJoined } from '../database/entity-columns';
import { Message } from '../entities/message.entity';
import { User } from '../entities/user.entity';

/**
 * Messages selected with their author (`m` joined to `users au`): the columns to select, and a
 * hydrator that hands each author to `onAuthor` (which primes the request's users-by-id loader), so
 * `author` fields cost no statement of their own.
 */
export function messageWithAuthor(dataSource: DataSource, onAuthor: (author: User) => void) {
  return {
    select: `${entityColumns(dataSource, Message, 'm')}, ${entityColumns(dataSource, User, 'au', 'author.')}`,
    hydrate(row: Record<string, unknown>): Message {
      const [message, author] = hydrateJoined(Message, User, 'author.', row);
      onAuthor(author);
      return message;
    },
  };
}
