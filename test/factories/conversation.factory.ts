import type { App } from '../../src/app';
import { ConversationKind } from '../../src/entities/conversation.entity';
import { MemberRole } from '../../src/entities/membership.entity';

type Db = Pick<App, 'services'>;

/**
 * A conversation with members, written straight to the tables (the first member is its OWNER).
 * Like every stored change, joining takes a seq and leaves a MemberJoined event.
 */
export async function createConversation(
  app: Db,
  memberIds: string[],
  { kind = ConversationKind.GROUP, title = 'Test conversation' }: { kind?: ConversationKind; title?: string | null } = {},
): Promise<string> {
  const { dataSource } = app.services;
  const [{ id }] = await dataSource.query(
    `INSERT INTO conversations (kind, title, created_by_id, last_seq) VALUES ($1, $2, $3, $4) RETURNING id`,
    [kind, title, memberIds[0], memberIds.length],
  );
  await dataSource.query(
    `INSERT INTO memberships (conversation_id, user_id, role, joined_at)
     SELECT $1, member, CASE WHEN ord = 1 THEN $3 ELSE $4 END, now() + ord * interval '1 millisecond'
     FROM unnest($2::uuid[]) WITH ORDINALITY AS m(member, ord)`,
    [id, memberIds, MemberRole.OWNER, MemberRole.MEMBER],
  );
  await dataSource.query(
    `INSERT INTO conversation_events (conversation_id, seq, type, payload)
     SELECT $1, ord, 'MemberJoined', jsonb_build_object('userId', member) FROM unnest($2::uuid[]) WITH ORDINALITY AS m(member, ord)`,
    [id, memberIds],
  );
  return id;
}

/**
 * Appends `count` messages (bodies `${prefix} 1`, `${prefix} 2`, …, authors taking turns) with
 * their MessageAdded events, the conversation's next seqs and its lastMessageAt. Returns the ids in
 * seq order.
 */
export async function createMessages(app: Db, conversationId: string, authorIds: string[], count: number, prefix = 'message'): Promise<string[]> {
  const { dataSource } = app.services;
  return dataSource.transaction(async (manager) => {
    const [{ last_seq: lastSeq }] = await manager.query(`SELECT last_seq FROM conversations WHERE id = $1 FOR UPDATE`, [conversationId]);
    const rows: { id: string }[] = await manager.query(
      `INSERT INTO messages (conversation_id, author_id, seq, body, client_message_id, created_at)
       SELECT $1, ($2::uuid[])[1 + (n - 1) % cardinality($2::uuid[])], $3 + n, $4 || ' ' || n, 'seed-' || gen_random_uuid(),
              now() + n * interval '1 millisecond'
       FROM generate_series(1, $5::int) AS n
       RETURNING id`,
      [conversationId, authorIds, lastSeq, prefix, count],
    );
    await manager.query(
      `INSERT INTO conversation_events (conversation_id, seq, type, payload, occurred_at)
       SELECT conversation_id, seq, 'MessageAdded', jsonb_build_object('messageId', id), created_at
       FROM messages WHERE conversation_id = $1 AND seq > $2`,
      [conversationId, lastSeq],
    );
    await manager.query(
      `UPDATE conversations SET last_seq = last_seq + $2, last_message_at = (SELECT max(created_at) FROM messages WHERE conversation_id = $1) WHERE id = $1`,
      [conversationId, count],
    );
    return rows.map((r) => r.id);
  });
}

/** A reaction, with its ReactionChanged event at the conversation's next seq. */
export async function createReaction(app: Db, messageId: string, userId: string, emoji: string): Promise<void> {
  await app.services.dataSource.transaction(async (manager) => {
    const [{ conversation_id: conversationId }] = await manager.query(`SELECT conversation_id FROM messages WHERE id = $1`, [messageId]);
    const [[{ last_seq: seq }]] = await manager.query(`UPDATE conversations SET last_seq = last_seq + 1 WHERE id = $1 RETURNING last_seq`, [conversationId]);
    await manager.query(`INSERT INTO reactions (message_id, user_id, emoji) VALUES ($1, $2, $3)`, [messageId, userId, emoji]);
    await manager.query(
      `INSERT INTO conversation_events (conversation_id, seq, type, payload) VALUES ($1, $2, 'ReactionChanged', jsonb_build_object('messageId', $3::uuid, 'userId', $4::uuid, 'emoji', $5::text, 'added', true))`,
      [conversationId, seq, messageId, userId, emoji],
    );
  });
}

/** Moves a member's read marker. */
export async function setReadMarker(app: Db, conversationId: string, userId: string, seq: number): Promise<void> {
  await app.services.dataSource.query(`UPDATE memberships SET last_read_seq = $3 WHERE conversation_id = $1 AND user_id = $2`, [conversationId, userId, seq]);
}
