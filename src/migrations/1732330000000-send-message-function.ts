import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * sendMessage in one round trip: `parley_send_message` does, in the one transaction of the one
 * statement that calls it, what services/messages.ts did in eight (idempotency lookup, BEGIN, the
 * conversation's row lock, the membership, the lookup again, the event, the message, COMMIT), in
 * the same order and with the same guarantees:
 *
 * - a retry (same author and `clientMessageId`) finds the first message, before any lock and again
 *   once the lock is granted (a concurrent retry that committed meanwhile); a retry racing on
 *   another conversation's lock is caught by messages_author_client_message_id_key, as before;
 * - the membership is read in a statement of its own after the lock is granted (PL/pgSQL takes a
 *   new snapshot per statement), so a member removed meanwhile does not pass;
 * - the seq comes from the conversation row (`last_seq + 1`) under its lock: gapless;
 * - a refusal (no such conversation, not a member, closed) writes nothing and says which;
 * - the caller publishes only after the statement returns, that is after commit.
 *
 * `p_external_event_id` records an inbound webhook event in the same transaction (inbound_events).
 * Unqualified names resolve through the caller's search_path, like every other statement of Parley.
 */
export class SendMessageFunction1732330000000 implements MigrationInterface {
  name = 'SendMessageFunction1732330000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE FUNCTION parley_send_message(
        p_id uuid, p_conversation_id uuid, p_author_id uuid, p_body text, p_client_message_id varchar, p_external_event_id varchar
      ) RETURNS TABLE (outcome text, message messages)
      LANGUAGE plpgsql VOLATILE AS $$
      #variable_conflict use_column
      DECLARE
        v_status text;
        v_seq integer;
        v_at timestamptz;
      BEGIN
        -- A retry of a message already stored: the first one, whatever happens to the conversation since.
        SELECT m.* INTO message FROM messages m WHERE m.author_id = p_author_id AND m.client_message_id = p_client_message_id;
        IF FOUND THEN outcome := 'earlier'; RETURN NEXT; RETURN; END IF;

        SELECT c.status INTO v_status FROM conversations c WHERE c.id = p_conversation_id FOR UPDATE;
        IF NOT FOUND OR NOT EXISTS (SELECT 1 FROM memberships ms WHERE ms.conversation_id = p_conversation_id AND ms.user_id = p_author_id) THEN
          outcome := 'not_found'; RETURN NEXT; RETURN;
        END IF;

        -- A concurrent retry that committed while this one waited for the lock.
        SELECT m.* INTO message FROM messages m WHERE m.author_id = p_author_id AND m.client_message_id = p_client_message_id;
        IF FOUND THEN outcome := 'earlier'; RETURN NEXT; RETURN; END IF;

        IF v_status = 'CLOSED' THEN outcome := 'closed'; RETURN NEXT; RETURN; END IF;

        UPDATE conversations c SET last_seq = c.last_seq + 1, last_message_at = now() WHERE c.id = p_conversation_id
          RETURNING c.last_seq, now() INTO v_seq, v_at;
        INSERT INTO conversation_events (conversation_id, seq, type, payload, occurred_at)
          VALUES (p_conversation_id, v_seq, 'MessageAdded', jsonb_build_object('messageId', p_id), v_at);
        INSERT INTO messages (id, conversation_id, author_id, seq, body, client_message_id, created_at)
          VALUES (p_id, p_conversation_id, p_author_id, v_seq, p_body, p_client_message_id, v_at)
          RETURNING * INTO message;
        IF p_external_event_id IS NOT NULL THEN
          INSERT INTO inbound_events (external_event_id, message_id) VALUES (p_external_event_id, p_id);
        END IF;
        outcome := 'sent';
        RETURN NEXT;
      END
      $$`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP FUNCTION parley_send_message(uuid, uuid, uuid, text, varchar, varchar)`);
  }
}
