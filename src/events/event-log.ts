import type { DataSource, EntityManager } from 'typeorm';
import { queryPrimary } from '../database/primary';
import type { MessagePayload, StoredEvent, StoredEventPayloads, StoredEventType } from './topics';

export interface AppendOptions {
  /** Also move the conversation's `last_message_at` (inbox order) to the event's time. */
  touchesLastMessage?: boolean;
  /** Published with the event but not stored in the log (see `MessagePayload`). */
  carries?: { message: MessagePayload };
}

/**
 * Appends one event to a conversation's log inside the caller's transaction and returns it.
 *
 * The seq comes from `UPDATE conversations SET last_seq = last_seq + 1 … RETURNING`: the row lock it
 * takes serialises concurrent writers of one conversation until commit, and a rollback undoes the
 * increment with the rest of the change, so seqs stay gapless. It also means that by the time seq N
 * is committed, every seq below N is committed too, which is what lets a subscriber backfill a gap
 * from the log. The caller publishes the returned event only after its transaction commits.
 */
export async function appendEvent<T extends StoredEventType>(
  manager: EntityManager,
  conversationId: string,
  type: T,
  payload: StoredEventPayloads[T],
  { touchesLastMessage = false }: AppendOptions = {},
): Promise<StoredEvent & { type: T }> {
  const [[row]] = await manager.query(
    `UPDATE conversations SET last_seq = last_seq + 1${touchesLastMessage ? ', last_message_at = now()' : ''}
     WHERE id = $1 RETURNING last_seq AS seq, now() AS "occurredAt"`,
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

/**
 * Reads started in the current synchronous turn, by data source and what they read. Subscribers of
 * one conversation that need the same events at the same moment — the gap ten thousand of them see
 * when two commits are published out of order, the catch-up after the bus reconnects — share one
 * statement instead of sending one each (which would also have queued them all for the pool). The
 * bus callback reaches every subscriber in one synchronous loop, and a caller joins only a read
 * started in that same loop: nothing can have been committed and seen in between, so it reads what
 * a read of the caller's own would. The first caller's statement is sent at once.
 */
const readsThisTurn = new WeakMap<DataSource, Map<string, Promise<unknown>>>();

function joinRead<T>(dataSource: DataSource, key: string, read: () => Promise<T>): Promise<T> {
  let reads = readsThisTurn.get(dataSource);
  if (!reads) readsThisTurn.set(dataSource, (reads = new Map()));
  const started = reads.get(key);
  if (started) return started as Promise<T>;
  const reading = read();
  reads.set(key, reading);
  // Once this synchronous turn is over, later callers read for themselves.
  queueMicrotask(() => reads.delete(key));
  return reading;
}

/**
 * Up to `limit` stored events with seq > `afterSeq`, in seq order, read from the primary (shared
 * with callers asking the same at the same moment: the events are then the same objects).
 */
export function readEvents(dataSource: DataSource, conversationId: string, afterSeq: number, limit: number): Promise<StoredEvent[]> {
  return joinRead(dataSource, `events ${conversationId} ${afterSeq} ${limit}`, async () => {
    const rows = await queryPrimary<{ seq: number; type: StoredEventType; payload: never; occurredAt: Date }>(
      dataSource,
      `SELECT seq, type, payload, occurred_at AS "occurredAt" FROM conversation_events
       WHERE conversation_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
      [conversationId, afterSeq, limit],
    );
    return rows.map((r) => ({ conversationId, seq: r.seq, type: r.type, payload: r.payload, occurredAt: r.occurredAt.toISOString() }) as StoredEvent);
  });
}

/** The conversation's highest committed seq, from the primary; null when it does not exist (shared like readEvents). */
export function headSeq(dataSource: DataSource, conversationId: string): Promise<number | null> {
  return joinRead(dataSource, `head ${conversationId}`, async () => {
    const [row] = await queryPrimary<{ lastSeq: number }>(dataSource, `SELECT last_seq AS "lastSeq" FROM conversations WHERE id = $1`, [conversationId]);
    return row?.lastSeq ?? null;
  });
}
