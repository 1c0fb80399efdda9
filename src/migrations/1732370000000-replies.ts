import type { MigrationInterface, QueryRunner } from 'typeorm';
import { SendMessageFunction1732330000000 } from './1732330000000-send-message-function';

/**
 * Replies: a message may name one earlier message of its conversation (`reply_to_id`), checked by
 * `parley_send_message` under the conversation's lock, with everything else it checks. The
 * function gains `p_reply_to_id` (last, defaulting to NULL, so its other callers are unchanged);
 * the outcome `bad_reply` refuses a reply to a message of another conversation, or to none, and
 * writes nothing. Retention nulls bodies and keeps rows, so the original stays, shown as deleted.
 */
export class Replies1732370000000 implements MigrationInterface {
  name = 'Replies1732370000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE messages ADD COLUMN reply_to_id uuid CONSTRAINT messages_reply_to_id_fkey REFERENCES messages (id) ON DELETE SET NULL`);
    await q.query(`DROP FUNCTION parley_send_message(uuid, uuid, uuid, text, varchar, varchar)`);
    await q.query(`
      CREATE FUNCTION parley_send_message(
        p_id uuid, p_conversation_id uuid, p_author_id uuid, p_body text, p_client_message_id varchar, p_external_event_id varchar,
        p_reply_to_id uuid DEFAULT NULL
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

        IF p_reply_to_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM messages o WHERE o.id = p_reply_to_id AND o.conversation_id = p_conversation_id) THEN
          outcome := 'bad_reply'; RETURN NEXT; RETURN;
        END IF;

        UPDATE conversations c SET last_seq = c.last_seq + 1, last_message_at = now() WHERE c.id = p_conversation_id
          RETURNING c.last_seq, now() INTO v_seq, v_at;
        INSERT INTO conversation_events (conversation_id, seq, type, payload, occurred_at)
          VALUES (p_conversation_id, v_seq, 'MessageAdded', jsonb_build_object('messageId', p_id), v_at);
        INSERT INTO messages (id, conversation_id, author_id, seq, body, client_message_id, created_at, reply_to_id)
          VALUES (p_id, p_conversation_id, p_author_id, v_seq, p_body, p_client_message_id, v_at, p_reply_to_id)
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
    await q.query(`DROP FUNCTION parley_send_message(uuid, uuid, uuid, text, varchar, varchar, uuid)`);
    await q.query(`ALTER TABLE messages DROP COLUMN reply_to_id`);
    // The function as it was, from its own migration (after the column is gone: it returns the row type).
    await new SendMessageFunction1732330000000().up(q);
  }
}
