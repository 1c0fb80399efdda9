import type { MigrationInterface, QueryRunner } from 'typeorm';
import { Replies1732370000000 } from './1732370000000-replies';
import { ChangeMessageFunction1732340000000 } from './1732340000000-change-message-function';

/** `@handle` at a word start; a handle is 3..32 of A-Z, a-z, 0-9 and `_`, so `bob@example.com` mentions nobody. */
const MENTION_PATTERN = `(?<![A-Za-z0-9_@])@([A-Za-z0-9_]{3,32})(?![A-Za-z0-9_])`;

/** Most members one message mentions (the first by handle): what a page of mentions may cost is bounded. */
export const MAX_MENTIONS = 20;

/**
 * Mentions and unread counters, both kept by PostgreSQL in the transaction of the change that
 * moves them, whichever code path makes it.
 *
 * Mentions. `parley_mentioned` reads the `@handle`s of a body and answers the members of the
 * conversation they name (the author aside; an erased account is nobody; at most MAX_MENTIONS). `parley_send_message`
 * stores them with the message; `parley_change_message` re-resolves them on an edit, against the
 * members at that time. Both now also answer `mentioned`, the ids, so that the caller renders the
 * message with its mentions from the same statement. A deleted message mentions nobody.
 *
 * Unread counters. Each membership counts what its member has not read: `unread_messages`
 * (someone else's messages after `last_read_seq`, not deleted) and `unread_mentions` (mentions of
 * the member in those). Every change moves them by a delta, in its own transaction:
 * - a message stored: +1 for every other member who has not read that far;
 * - a message deleted: -1 for the same members, and its mentions go;
 * - a mention stored or removed: ±1 for its member, if unread;
 * - a membership inserted, or its `last_read_seq` moved: its counters are those of the unread
 *   tail, counted once over `messages (conversation_id, seq)` from the read position on (a read to
 *   the end counts nothing).
 * A user's totals are the sum of their memberships' counters (memberships_user_id_idx), read
 * when asked for: no message is counted then. They are deliberately not a row of their own: every
 * message to any conversation of a user would lock it until commit, so a support agent's row would
 * make the conversations they belong to send one at a time.
 *
 * Locks. A message's writer holds its conversation's lock, so changes to one conversation's
 * counters run one at a time; a read moves one membership row. No statement here waits for a
 * second row lock while holding one another writer wants: no new deadlock.
 */
export class MentionsUnread1732380000000 implements MigrationInterface {
  name = 'MentionsUnread1732380000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE message_mentions (
        message_id uuid NOT NULL CONSTRAINT message_mentions_message_id_fkey REFERENCES messages (id) ON DELETE CASCADE,
        user_id uuid NOT NULL CONSTRAINT message_mentions_user_id_fkey REFERENCES users (id) ON DELETE CASCADE,
        conversation_id uuid NOT NULL,
        seq integer NOT NULL,
        created_at timestamptz NOT NULL,
        CONSTRAINT message_mentions_pkey PRIMARY KEY (message_id, user_id)
      )`);
    // The viewer's mentions, newest first (keyset); and a member's unread ones in a conversation.
    await q.query(`CREATE INDEX message_mentions_user_newest_idx ON message_mentions (user_id, created_at, message_id)`);
    await q.query(`CREATE INDEX message_mentions_member_seq_idx ON message_mentions (conversation_id, user_id, seq)`);

    await q.query(`ALTER TABLE memberships ADD COLUMN unread_messages integer NOT NULL DEFAULT 0, ADD COLUMN unread_mentions integer NOT NULL DEFAULT 0`);
    // Every message updates its members' counters: room on each page lets those be HOT updates (no
    // new index entries; no index holds the counters), for rows written from now on.
    await q.query(`ALTER TABLE memberships SET (fillfactor = 80)`);

    await q.query(`
      CREATE FUNCTION parley_mentioned(p_conversation_id uuid, p_author_id uuid, p_body text) RETURNS uuid[]
      LANGUAGE sql STABLE AS $$
        SELECT coalesce(array_agg(m.id ORDER BY m.id), '{}') FROM (
          SELECT u.id FROM users u JOIN memberships ms ON ms.user_id = u.id AND ms.conversation_id = p_conversation_id
          WHERE u.deleted_at IS NULL AND u.id <> p_author_id
            AND lower(u.handle) IN (SELECT lower(h[1]) FROM regexp_matches(coalesce(p_body, ''), '${MENTION_PATTERN}', 'g') AS h)
          ORDER BY lower(u.handle) LIMIT ${MAX_MENTIONS}) m
      $$`);

    // A membership's counters: those of its unread tail, counted when it starts or its read position moves.
    await q.query(`
      CREATE FUNCTION parley_unread_recount() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        NEW.unread_messages := (SELECT count(*) FROM messages m WHERE m.conversation_id = NEW.conversation_id
          AND m.seq > NEW.last_read_seq AND m.author_id <> NEW.user_id AND m.deleted_at IS NULL);
        NEW.unread_mentions := (SELECT count(*) FROM message_mentions mm WHERE mm.conversation_id = NEW.conversation_id
          AND mm.user_id = NEW.user_id AND mm.seq > NEW.last_read_seq);
        RETURN NEW;
      END $$`);
    await q.query(`CREATE TRIGGER memberships_unread_start BEFORE INSERT ON memberships FOR EACH ROW EXECUTE FUNCTION parley_unread_recount()`);
    await q.query(`
      CREATE TRIGGER memberships_unread_read BEFORE UPDATE OF last_read_seq ON memberships FOR EACH ROW
      WHEN (NEW.last_read_seq IS DISTINCT FROM OLD.last_read_seq) EXECUTE FUNCTION parley_unread_recount()`);

    // A message stored or deleted: every other member who has not read that far.
    await q.query(`
      CREATE FUNCTION parley_unread_on_message() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE
        v_delta integer := CASE TG_OP WHEN 'INSERT' THEN 1 ELSE -1 END;
      BEGIN
        UPDATE memberships ms SET unread_messages = ms.unread_messages + v_delta
          WHERE ms.conversation_id = NEW.conversation_id AND ms.user_id <> NEW.author_id AND ms.last_read_seq < NEW.seq;
        IF TG_OP = 'UPDATE' THEN
          DELETE FROM message_mentions mm WHERE mm.message_id = NEW.id;
        END IF;
        RETURN NULL;
      END $$`);
    await q.query(`CREATE TRIGGER messages_unread_added AFTER INSERT ON messages FOR EACH ROW EXECUTE FUNCTION parley_unread_on_message()`);
    await q.query(`
      CREATE TRIGGER messages_unread_deleted AFTER UPDATE OF deleted_at ON messages FOR EACH ROW
      WHEN (OLD.deleted_at IS NULL AND NEW.deleted_at IS NOT NULL) EXECUTE FUNCTION parley_unread_on_message()`);

    // Mentions stored or removed, once per statement (a message's mentions come and go together).
    await q.query(`
      CREATE FUNCTION parley_unread_on_mentions() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE
        v_delta integer := CASE TG_OP WHEN 'INSERT' THEN 1 ELSE -1 END;
      BEGIN
        UPDATE memberships ms SET unread_mentions = ms.unread_mentions + v_delta * x.n
          FROM (SELECT ch.conversation_id, ch.user_id, count(*)::integer AS n FROM changed ch
                JOIN memberships m2 ON m2.conversation_id = ch.conversation_id AND m2.user_id = ch.user_id AND ch.seq > m2.last_read_seq
                GROUP BY 1, 2) x
          WHERE ms.conversation_id = x.conversation_id AND ms.user_id = x.user_id;
        RETURN NULL;
      END $$`);
    await q.query(`CREATE TRIGGER message_mentions_unread_added AFTER INSERT ON message_mentions REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION parley_unread_on_mentions()`);
    await q.query(`CREATE TRIGGER message_mentions_unread_removed AFTER DELETE ON message_mentions REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION parley_unread_on_mentions()`);

    // The counters of what is there already (no mentions yet).
    await q.query(`
      UPDATE memberships ms SET unread_messages = (SELECT count(*) FROM messages m WHERE m.conversation_id = ms.conversation_id
        AND m.seq > ms.last_read_seq AND m.author_id <> ms.user_id AND m.deleted_at IS NULL)`);

    await this.sendAndChange(q);
  }

  /** The two write functions, now storing mentions and answering their ids as `mentioned`. */
  private async sendAndChange(q: QueryRunner): Promise<void> {
    await q.query(`DROP FUNCTION parley_send_message(uuid, uuid, uuid, text, varchar, varchar, uuid)`);
    await q.query(`
      CREATE FUNCTION parley_send_message(
        p_id uuid, p_conversation_id uuid, p_author_id uuid, p_body text, p_client_message_id varchar, p_external_event_id varchar,
        p_reply_to_id uuid DEFAULT NULL
      ) RETURNS TABLE (outcome text, message messages, mentioned uuid[])
      LANGUAGE plpgsql VOLATILE AS $$
      #variable_conflict use_column
      DECLARE
        v_status text;
        v_seq integer;
        v_at timestamptz;
      BEGIN
        -- A retry of a message already stored: the first one, whatever happens to the conversation since.
        SELECT m.* INTO message FROM messages m WHERE m.author_id = p_author_id AND m.client_message_id = p_client_message_id;
        IF FOUND THEN
          outcome := 'earlier';
          mentioned := ARRAY(SELECT mm.user_id FROM message_mentions mm WHERE mm.message_id = (message).id ORDER BY mm.user_id);
          RETURN NEXT; RETURN;
        END IF;

        SELECT c.status INTO v_status FROM conversations c WHERE c.id = p_conversation_id FOR UPDATE;
        IF NOT FOUND OR NOT EXISTS (SELECT 1 FROM memberships ms WHERE ms.conversation_id = p_conversation_id AND ms.user_id = p_author_id) THEN
          outcome := 'not_found'; RETURN NEXT; RETURN;
        END IF;

        -- A concurrent retry that committed while this one waited for the lock.
        SELECT m.* INTO message FROM messages m WHERE m.author_id = p_author_id AND m.client_message_id = p_client_message_id;
        IF FOUND THEN
          outcome := 'earlier';
          mentioned := ARRAY(SELECT mm.user_id FROM message_mentions mm WHERE mm.message_id = (message).id ORDER BY mm.user_id);
          RETURN NEXT; RETURN;
        END IF;

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
        -- Most messages name nobody: no look-up for a body without an @.
        mentioned := CASE WHEN strpos(p_body, '@') > 0 THEN parley_mentioned(p_conversation_id, p_author_id, p_body) ELSE '{}' END;
        IF cardinality(mentioned) > 0 THEN
          INSERT INTO message_mentions (message_id, user_id, conversation_id, seq, created_at)
            SELECT p_id, u, p_conversation_id, v_seq, v_at FROM unnest(mentioned) AS u;
        END IF;
        IF p_external_event_id IS NOT NULL THEN
          INSERT INTO inbound_events (external_event_id, message_id) VALUES (p_external_event_id, p_id);
        END IF;
        outcome := 'sent';
        RETURN NEXT;
      END
      $$`);

    await q.query(`DROP FUNCTION parley_change_message(uuid, uuid, text, text)`);
    await q.query(`
      CREATE FUNCTION parley_change_message(p_message_id uuid, p_viewer_id uuid, p_action text, p_value text)
      RETURNS TABLE (outcome text, seq integer, occurred_at timestamptz, message messages, mentioned uuid[])
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

        -- The message as it is under the lock, and whom it mentions.
        SELECT m.* INTO message FROM messages m WHERE m.id = p_message_id;
        mentioned := ARRAY(SELECT mm.user_id FROM message_mentions mm WHERE mm.message_id = p_message_id ORDER BY mm.user_id);

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
            -- Mentions are those of the new body, against the members now.
            mentioned := parley_mentioned(v_conversation_id, p_viewer_id, p_value);
            DELETE FROM message_mentions mm WHERE mm.message_id = p_message_id AND mm.user_id <> ALL (mentioned);
            INSERT INTO message_mentions (message_id, user_id, conversation_id, seq, created_at)
              SELECT p_message_id, u, v_conversation_id, (message).seq, (message).created_at FROM unnest(mentioned) AS u
              ON CONFLICT DO NOTHING;
            v_type := 'MessageEdited';
          ELSE
            -- The deletion's trigger removes its mentions.
            UPDATE messages m SET deleted_at = now() WHERE m.id = p_message_id RETURNING * INTO message;
            mentioned := '{}';
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
    await q.query(`DROP FUNCTION parley_send_message(uuid, uuid, uuid, text, varchar, varchar, uuid)`);
    await q.query(`DROP TRIGGER message_mentions_unread_removed ON message_mentions`);
    await q.query(`DROP TRIGGER message_mentions_unread_added ON message_mentions`);
    await q.query(`DROP TRIGGER messages_unread_deleted ON messages`);
    await q.query(`DROP TRIGGER messages_unread_added ON messages`);
    await q.query(`DROP TRIGGER memberships_unread_read ON memberships`);
    await q.query(`DROP TRIGGER memberships_unread_start ON memberships`);
    await q.query(`DROP FUNCTION parley_unread_on_mentions(), parley_unread_on_message(), parley_unread_recount(), parley_mentioned(uuid, uuid, text)`);
    await q.query(`ALTER TABLE memberships RESET (fillfactor)`);
    await q.query(`ALTER TABLE memberships DROP COLUMN unread_messages, DROP COLUMN unread_mentions`);
    await q.query(`DROP TABLE message_mentions`);
    // The functions as they were, from their own migrations.
    await new ChangeMessageFunction1732340000000().up(q);
    await replySendFunction(q);
  }
}

/** The send function as the replies migration made it (its own `up` also adds the column, which is still there). */
async function replySendFunction(q: QueryRunner): Promise<void> {
  const statements: string[] = [];
  const recorder = { query: async (text: string) => void statements.push(text) } as unknown as QueryRunner;
  await new Replies1732370000000().up(recorder);
  // Skip the column and the DROP of the function before it (gone already): run only the CREATE.
  await q.query(statements.find((text) => text.includes('CREATE FUNCTION parley_send_message'))!);
}
