import type { EntityManager } from 'typeorm';
import type { StoredEvent, StoredEventPayloads, StoredEventType } from '../subscriptions/topics';

/**
 * Appends one event to a conversation's log inside the caller's transaction and returns it.
 *
 * The seq comes from `UPDATE conversations SET last_seq = last_seq + 1 … RETURNING`: the row lock it
 * takes serialises concurrent writers of one conversation until commit, and a rollback undoes the
 * increment with the rest of the change, so seqs stay gapless. The caller publishes the returned
 * event only after its transaction commits (delivery contract, step 1–2).
 */
export async function appendEvent<T extends StoredEventType>(
  manager: EntityManager,
  conversationId: string,
  type: T,
  payload: StoredEventPayloads[T],
): Promise<StoredEvent & { type: T }> {
  const [[row]] = await manager.query(
    `UPDATE conversations SET last_seq = last_seq + 1 WHERE id = $1 RETURNING last_seq AS seq, now() AS "occurredAt"`,
    [conversationId],
  );
  if (!row) throw new Error(`appendEvent: conversation ${conversationId} does not exist`);
  await manager.query(`INSERT INTO conversation_events (conversation_id, seq, type, payload, occurred_at) VALUES ($1, $2, $3, $4, $5)`, [
    conversationId,
    row.seq,
    type,
    payload,
    row.occurredAt,
  ]);
  return { conversationId, seq: row.seq, type, occurredAt: (row.occurredAt as Date).toISOString(), payload } as StoredEvent & { type: T };
}
