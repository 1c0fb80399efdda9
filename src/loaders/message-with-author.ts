import type { Sql } from '../database/sql';
import { Message } from '../entities/message.entity';
import type { MessageRecord, UserRecord } from '../entities/records';
import { User } from '../entities/user.entity';

/** A message row selected with its author's columns, each named `author.<property>`. */
type MessageWithAuthorRow = MessageRecord & Record<`author.${keyof UserRecord}`, never>;

/**
 * Messages selected with their author (`m` joined to `users au`): the columns to select, and
 * `attachAuthors`, which gives each row its author as `author` (one object per distinct author) and
 * hands each author once to `onAuthor` (which primes the request's users-by-id loader), so `author`
 * fields cost no statement and no promise of their own.
 */
export function messageWithAuthor(sql: Sql, onAuthor: (author: UserRecord) => void) {
  return {
    select: `${sql.columns(Message, 'm')}, ${sql.columns(User, 'au', { prefix: 'author.', omit: ['passwordHash'] })}`,
    attachAuthors(rows: readonly MessageRecord[]): void {
      const authors = new Map<string, UserRecord>();
      for (const message of rows as MessageWithAuthorRow[]) {
        let author = authors.get(message.authorId);
        if (author === undefined) {
          const row = message as unknown as Record<string, never>;
          author = {
            id: row['author.id'],
            handle: row['author.handle'],
            displayName: row['author.displayName'],
            email: row['author.email'],
            role: row['author.role'],
            lastSeenAt: row['author.lastSeenAt'],
            createdAt: row['author.createdAt'],
            deletedAt: row['author.deletedAt'],
          };
          authors.set(message.authorId, author);
          onAuthor(author);
        }
        message.author = author;
      }
    },
  };
}
