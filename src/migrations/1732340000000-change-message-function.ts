import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Edits, deletes and reactions in one round trip: `parley_change_message` does, in the one
 * transaction of the one statement that calls it, what services/messages.ts did in eight or nine
 * (find the message, BEGIN, the conversation's row lock, the membership, the message again under
 * the lock, the change, the seq, the event, COMMIT), in the same order and with the same guarantees:
 *
 * - the conversation is locked before anything is decided, so changes to one conversation run one
 *   at a time and take gapless seqs from `last_seq + 1`;
 * - the membership and the message are read in statements of their own after the lock is granted
 *   (PL/pgSQL takes a new snapshot per statement), so what was decided meanwhile is seen;
 * - a refusal writes nothing and says which (the caller turns it into the same errors as before);
 * - a change that changes nothing (the same body, a second delete, a reaction already there or not
 *   there) writes nothing and takes no seq;
 * - the caller publishes only after the statement returns, that is after commit.
 *
 * `p_action` is `edit` (p_value: the new body), `delete`, `react` or `unreact` (p_value: the emoji).
 * Outcomes: `not_found` (no such message, or the viewer is not a member), `not_author`, `deleted`,
 * `closed`, `unchanged`, `changed`; with `changed`, `seq` and `occurred_at` are the event's.
 */
export class ChangeMessageFunction1732340000000 implements MigrationInterface {
  name = 'ChangeMessageFunction1732340000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE FUNCTION parley_change_message(p_message_id uuid, p_viewer_id uuid, p_action text, p_value text)
      RETURNS TABLE (outcome text, seq integer, occurred_at timestamptz, message messages)
      LANGUAGE plpgsql VOLATILE AS $$
      #variable_conflict use_column
      DECLARE
        v_conversation_id uuid;
        v_status text;
        v_type text;
        v_payload jsonb;
        v_count integer;
        v_seq integer;
        v_at timestamptz;
      BEGIN
        SELECT m.conversation_id INTO v_conversation_id FROM messages m WHERE m.id = p_message_id;
        IF NOT FOUND THEN outcome := 'not_found'; RETURN NEXT; RETURN; END IF;

        SELECT c.status INTO v_status FROM conversations c WHERE c.id = v_conversation_id FOR UPDATE;
        IF NOT FOUND OR NOT EXISTS (SELECT 1 FROM memberships ms WHERE ms.conversation_id = v_conversation_id AND ms.user_id = p_viewer_id) THEN
          outcome := 'not_found'; RETURN NEXT; RETURN;
        END IF;

        -- The message as it is under the lock.
        SELECT m.* INTO message FROM messages m WHERE m.id = p_message_id;

        IF p_action = 'edit' OR p_action = 'delete' THEN
          -- Deleting again is done already; anyone else's message, or a deleted one, is not for the viewer to change.
          IF p_action = 'delete' AND (message).deleted_at IS NOT NULL AND (message).author_id = p_viewer_id THEN
            outcome := 'unchanged'; RETURN NEXT; RETURN;
          END IF;
          IF (message).author_id <> p_viewer_id THEN outcome := 'not_author'; RETURN NEXT; RETURN; END IF;
          IF (message).deleted_at IS NOT NULL THEN outcome := 'deleted'; RETURN NEXT; RETURN; END IF;
          IF v_status = 'CLOSED' THEN outcome := 'closed'; RETURN NEXT; RETURN; END IF;
          IF p_action = 'edit' THEN
            IF (message).body = p_value THEN outcome := 'unchanged'; RETURN NEXT; RETURN; END IF;
            UPDATE messages m SET body = p_value, edited_at = now() WHERE m.id = p_message_id RETURNING * INTO message;
            v_type := 'MessageEdited';
          ELSE
            UPDATE messages m SET deleted_at = now() WHERE m.id = p_message_id RETURNING * INTO message;
            v_type := 'MessageDeleted';
          END IF;
          v_payload := jsonb_build_object('messageId', p_message_id);
        ELSIF p_action = 'react' OR p_action = 'unreact' THEN
          IF v_status = 'CLOSED' THEN outcome := 'closed'; RETURN NEXT; RETURN; END IF;
          IF p_action = 'react' THEN
            IF (message).deleted_at IS NOT NULL THEN outcome := 'deleted'; RETURN NEXT; RETURN; END IF;
            INSERT INTO reactions (message_id, user_id, emoji) VALUES (p_message_id, p_viewer_id, p_value) ON CONFLICT DO NOTHING;
          ELSE
            DELETE FROM reactions r WHERE r.message_id = p_message_id AND r.user_id = p_viewer_id AND r.emoji = p_value;
          END IF;
          GET DIAGNOSTICS v_count = ROW_COUNT;
          IF v_count = 0 THEN outcome := 'unchanged'; RETURN NEXT; RETURN; END IF;
          v_type := 'ReactionChanged';
          v_payload := jsonb_build_object('messageId', p_message_id, 'userId', p_viewer_id, 'emoji', p_value, 'added', p_action = 'react');
        ELSE
          RAISE EXCEPTION 'parley_change_message: unknown action %', p_action;
        END IF;

        UPDATE conversations c SET last_seq = c.last_seq + 1 WHERE c.id = v_conversation_id RETURNING c.last_seq, now() INTO v_seq, v_at;
        INSERT INTO conversation_events (conversation_id, seq, type, payload, occurred_at) VALUES (v_conversation_id, v_seq, v_type, v_payload, v_at);
        outcome := 'changed';
        seq := v_seq;
        occurred_at := v_at;
        RETURN NEXT;
      END
      $$`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP FUNCTION parley_change_message(uuid, uuid, text, text)`);
  }
}
