import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Outbound webhooks: endpoints an ADMIN registers, and their deliveries, which are written in the
 * transaction of the change that causes them.
 *
 * `conversation_events_webhooks` is a constraint trigger deferred to commit: by then the change's
 * message, its mentions and its members are all written, and what it reads is what committed with
 * it. For an event some enabled endpoint subscribes to, it renders the payload once (so retries send
 * the same bytes) and adds one delivery per such endpoint. A change that rolls back leaves none.
 *
 * Deliveries of one endpoint and one conversation (a lane) go out in seq order, one at a time, so a
 * receiver sees a conversation's events in commit order even across retries; lanes do not wait for
 * each other. Only a lane's head is PENDING; the rest are QUEUED behind it, outside the dispatcher's
 * index, and the next is promoted when the head is settled. A new delivery checks its lane for a
 * waiting one under a share lock on it, so a head settled at that moment (which must wait for the
 * lock) promotes the new one, and one settled just before leaves the new one PENDING.
 *
 * The trigger skips an endpoint being deleted (FOR KEY SHARE SKIP LOCKED) rather than wait for it.
 *
 * `user_presence` mirrors who is online (the presence store decides; each change is recorded with
 * its time, and an older one never overwrites a newer one), so that a payload can name the members
 * who were offline when the change committed.
 */
export class OutboundWebhooks1732390000000 implements MigrationInterface {
  name = 'OutboundWebhooks1732390000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE user_presence (
        user_id uuid PRIMARY KEY CONSTRAINT user_presence_user_id_fkey REFERENCES users (id) ON DELETE CASCADE,
        online boolean NOT NULL,
        changed_at timestamptz NOT NULL
      )`);
    await q.query(`
      CREATE TABLE webhook_endpoints (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        url text NOT NULL,
        events text[] NOT NULL,
        description text,
        secret text NOT NULL,
        previous_secret text,
        previous_secret_until timestamptz,
        enabled boolean NOT NULL DEFAULT true,
        -- Since when every attempt failed; an endpoint failing for WEBHOOK_DISABLE_AFTER is disabled.
        failing_since timestamptz,
        disabled_reason text,
        created_by_id uuid CONSTRAINT webhook_endpoints_created_by_id_fkey REFERENCES users (id) ON DELETE SET NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX webhook_endpoints_created_idx ON webhook_endpoints (created_at, id)`);
    await q.query(`
      CREATE TABLE webhook_deliveries (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        endpoint_id uuid NOT NULL CONSTRAINT webhook_deliveries_endpoint_id_fkey REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
        event_type text NOT NULL,
        conversation_id uuid NOT NULL,
        seq integer NOT NULL,
        -- The message of a message event, so that deleting it can take its body out of waiting payloads.
        message_id uuid,
        payload json NOT NULL,
        status text NOT NULL DEFAULT 'PENDING' CONSTRAINT webhook_deliveries_status_check CHECK (status IN ('QUEUED', 'PENDING', 'DELIVERED', 'DEAD')),
        attempts integer NOT NULL DEFAULT 0,
        next_attempt_at timestamptz NOT NULL DEFAULT now(),
        leased_until timestamptz,
        -- Which claim holds the lease: only that claim may settle the attempt.
        lease_token uuid,
        last_status_code integer,
        last_error text,
        created_at timestamptz NOT NULL DEFAULT now(),
        delivered_at timestamptz,
        CONSTRAINT webhook_deliveries_lane_seq_key UNIQUE (endpoint_id, conversation_id, seq)
      )`);
    // What the dispatcher reads: lane heads by due time, and each lane's waiting deliveries.
    await q.query(`CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE status = 'PENDING'`);
    await q.query(`CREATE INDEX webhook_deliveries_waiting_lane_idx ON webhook_deliveries (endpoint_id, conversation_id, seq) WHERE status IN ('QUEUED', 'PENDING')`);
    await q.query(`CREATE INDEX webhook_deliveries_waiting_message_idx ON webhook_deliveries (message_id) WHERE status IN ('QUEUED', 'PENDING')`);
    // An endpoint's deliveries, newest first; dead letters (the gauge); what retention removes.
    await q.query(`CREATE INDEX webhook_deliveries_endpoint_newest_idx ON webhook_deliveries (endpoint_id, created_at, id)`);
    await q.query(`CREATE INDEX webhook_deliveries_dead_idx ON webhook_deliveries (endpoint_id) WHERE status = 'DEAD'`);
    await q.query(`CREATE INDEX webhook_deliveries_settled_idx ON webhook_deliveries (created_at) WHERE status IN ('DELIVERED', 'DEAD')`);

    // The API's global ids (pagination/global-id.ts): base64url of `<Type>:<uuid>`, no padding.
    await q.query(`
      CREATE FUNCTION parley_global_id(p_type text, p_id uuid) RETURNS text LANGUAGE sql IMMUTABLE AS $$
        SELECT translate(encode(convert_to(p_type || ':' || p_id::text, 'UTF8'), 'base64'), E'+/=\\n', '-_')
      $$`);
    await q.query(`
      CREATE FUNCTION parley_iso(p_at timestamptz) RETURNS text LANGUAGE sql STABLE AS $$
        SELECT to_char(p_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
      $$`);
    await q.query(`
      CREATE FUNCTION parley_public_user(p_user users) RETURNS json LANGUAGE sql STABLE AS $$
        SELECT json_build_object('id', parley_global_id('User', (p_user).id), 'handle', (p_user).handle, 'displayName', (p_user).display_name)
      $$`);

    await q.query(`
      CREATE FUNCTION parley_webhook_enqueue() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE
        v_event text;
        v_message messages;
        v_actor uuid;
        v_data json;
        v_endpoint uuid;
        v_waiting boolean;
      BEGIN
        v_event := CASE NEW.type
          WHEN 'MessageAdded' THEN 'message.created'
          WHEN 'MessageEdited' THEN 'message.edited'
          WHEN 'MemberJoined' THEN 'conversation.member_added'
          WHEN 'ConversationStatusChanged' THEN CASE WHEN NEW.payload->>'status' = 'CLOSED' THEN 'conversation.closed' END
        END;
        IF v_event IS NULL OR NOT EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.enabled AND v_event = ANY (e.events)) THEN
          RETURN NULL;
        END IF;

        IF NEW.type IN ('MessageAdded', 'MessageEdited') THEN
          SELECT m.* INTO v_message FROM messages m WHERE m.id = (NEW.payload->>'messageId')::uuid;
          v_actor := v_message.author_id;
        ELSIF NEW.type = 'MemberJoined' THEN
          v_actor := NULL;
        END IF;

        SELECT json_build_object(
          'conversation', json_build_object('id', parley_global_id('Conversation', c.id), 'kind', c.kind, 'title', c.title, 'status', c.status),
          'message', CASE WHEN v_message.id IS NOT NULL THEN json_build_object(
            'id', parley_global_id('Message', v_message.id),
            'seq', v_message.seq,
            'body', CASE WHEN v_message.deleted_at IS NULL THEN v_message.body END,
            'createdAt', parley_iso(v_message.created_at),
            'editedAt', parley_iso(v_message.edited_at),
            'replyToId', CASE WHEN v_message.reply_to_id IS NOT NULL THEN parley_global_id('Message', v_message.reply_to_id) END,
            'author', (SELECT parley_public_user(u) FROM users u WHERE u.id = v_message.author_id)) END,
          'member', CASE WHEN NEW.type = 'MemberJoined' THEN
            (SELECT parley_public_user(u) FROM users u WHERE u.id = (NEW.payload->>'userId')::uuid) END,
          'mentions', (SELECT coalesce(json_agg(parley_public_user(u) ORDER BY lower(u.handle)), '[]') FROM message_mentions mm
            JOIN users u ON u.id = mm.user_id WHERE mm.message_id = v_message.id),
          -- Whom a push gateway should wake: members not online anywhere, the one who acted aside.
          'offlineMembers', (SELECT coalesce(json_agg(parley_public_user(u) ORDER BY lower(u.handle)), '[]') FROM memberships ms
            JOIN users u ON u.id = ms.user_id LEFT JOIN user_presence p ON p.user_id = ms.user_id
            WHERE ms.conversation_id = c.id AND u.deleted_at IS NULL AND NOT coalesce(p.online, false) AND u.id IS DISTINCT FROM v_actor))
        INTO v_data
        FROM conversations c WHERE c.id = NEW.conversation_id;

        FOR v_endpoint IN
          SELECT e.id FROM webhook_endpoints e WHERE e.enabled AND v_event = ANY (e.events) ORDER BY e.id FOR KEY SHARE SKIP LOCKED
        LOOP
          -- Behind a waiting delivery of the lane, or its head.
          PERFORM 1 FROM webhook_deliveries w
            WHERE w.endpoint_id = v_endpoint AND w.conversation_id = NEW.conversation_id AND w.status IN ('QUEUED', 'PENDING')
            LIMIT 1 FOR SHARE;
          v_waiting := FOUND;
          INSERT INTO webhook_deliveries (endpoint_id, event_type, conversation_id, seq, message_id, payload, status)
            VALUES (v_endpoint, v_event, NEW.conversation_id, NEW.seq, v_message.id,
              json_build_object('type', v_event, 'timestamp', parley_iso(NEW.occurred_at), 'data', v_data),
              CASE WHEN v_waiting THEN 'QUEUED' ELSE 'PENDING' END)
            ON CONFLICT DO NOTHING;
        END LOOP;
        RETURN NULL;
      END $$`);
    await q.query(`
      CREATE CONSTRAINT TRIGGER conversation_events_webhooks AFTER INSERT ON conversation_events
      DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
      WHEN (NEW.type IN ('MessageAdded', 'MessageEdited', 'MemberJoined', 'ConversationStatusChanged'))
      EXECUTE FUNCTION parley_webhook_enqueue()`);

    // A deleted message's body leaves the payloads still waiting to go out.
    await q.query(`
      CREATE FUNCTION parley_webhook_scrub() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        UPDATE webhook_deliveries d SET payload = jsonb_set(d.payload::jsonb, '{data,message,body}', 'null')::json
          WHERE d.message_id = NEW.id AND d.status IN ('QUEUED', 'PENDING');
        RETURN NULL;
      END $$`);
    await q.query(`
      CREATE TRIGGER messages_webhook_scrub AFTER UPDATE OF deleted_at ON messages FOR EACH ROW
      WHEN (OLD.deleted_at IS NULL AND NEW.deleted_at IS NOT NULL) EXECUTE FUNCTION parley_webhook_scrub()`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TRIGGER messages_webhook_scrub ON messages`);
    await q.query(`DROP TRIGGER conversation_events_webhooks ON conversation_events`);
    await q.query(`DROP FUNCTION parley_webhook_scrub(), parley_webhook_enqueue(), parley_public_user(users), parley_iso(timestamptz), parley_global_id(text, uuid)`);
    await q.query(`DROP TABLE webhook_deliveries`);
    await q.query(`DROP TABLE webhook_endpoints`);
    await q.query(`DROP TABLE user_presence`);
  }
}
