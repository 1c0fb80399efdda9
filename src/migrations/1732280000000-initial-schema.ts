import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The whole domain of ARCHITECTURE.md. Table names are unqualified: they land in the schema at the
 * head of the connection's search_path (config DATABASE_SCHEMA), which is how tests isolate files.
 */
export class InitialSchema1732280000000 implements MigrationInterface {
  name = 'InitialSchema1732280000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE users (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        handle varchar(32) NOT NULL,
        display_name varchar(64) NOT NULL,
        email varchar(254) NOT NULL,
        password_hash text NOT NULL,
        role varchar(16) NOT NULL DEFAULT 'USER' CONSTRAINT users_role_check CHECK (role IN ('USER', 'ADMIN')),
        last_seen_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE UNIQUE INDEX users_handle_lower_key ON users (lower(handle))`);
    await q.query(`CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email))`);

    await q.query(`
      CREATE TABLE conversations (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        kind varchar(16) NOT NULL CONSTRAINT conversations_kind_check CHECK (kind IN ('DIRECT', 'GROUP', 'SUPPORT')),
        status varchar(16) NOT NULL DEFAULT 'OPEN' CONSTRAINT conversations_status_check CHECK (status IN ('OPEN', 'CLOSED')),
        title varchar(200),
        created_by_id uuid NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
        created_at timestamptz NOT NULL DEFAULT now(),
        last_seq integer NOT NULL DEFAULT 0,
        last_message_at timestamptz,
        direct_key varchar(80)
      )`);
    await q.query(`CREATE UNIQUE INDEX conversations_direct_key_key ON conversations (direct_key) WHERE direct_key IS NOT NULL`);
    await q.query(`CREATE INDEX conversations_inbox_order_idx ON conversations (last_message_at DESC NULLS LAST, id)`);

    await q.query(`
      CREATE TABLE memberships (
        conversation_id uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
        user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        role varchar(16) NOT NULL DEFAULT 'MEMBER' CONSTRAINT memberships_role_check CHECK (role IN ('OWNER', 'MEMBER')),
        last_read_seq integer NOT NULL DEFAULT 0,
        joined_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT memberships_pkey PRIMARY KEY (conversation_id, user_id)
      )`);
    await q.query(`CREATE INDEX memberships_user_id_idx ON memberships (user_id)`);
    await q.query(`CREATE INDEX memberships_join_order_idx ON memberships (conversation_id, joined_at, user_id)`);

    await q.query(`
      CREATE TABLE messages (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        conversation_id uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
        author_id uuid NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
        seq integer NOT NULL,
        body text,
        client_message_id varchar(64),
        created_at timestamptz NOT NULL DEFAULT now(),
        edited_at timestamptz,
        deleted_at timestamptz
      )`);
    await q.query(`CREATE UNIQUE INDEX messages_conversation_seq_key ON messages (conversation_id, seq)`);
    await q.query(`CREATE UNIQUE INDEX messages_author_client_message_id_key ON messages (author_id, client_message_id)`);
    await q.query(`CREATE INDEX messages_body_fts_idx ON messages USING gin (to_tsvector('english', coalesce(body, '')))`);

    await q.query(`
      CREATE TABLE reactions (
        message_id uuid NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
        user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        emoji varchar(32) NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT reactions_pkey PRIMARY KEY (message_id, user_id, emoji)
      )`);

    await q.query(`
      CREATE TABLE conversation_events (
        conversation_id uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
        seq integer NOT NULL,
        type varchar(32) NOT NULL,
        payload jsonb NOT NULL,
        occurred_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT conversation_events_pkey PRIMARY KEY (conversation_id, seq)
      )`);

    await q.query(`
      CREATE TABLE metric_samples (
        at timestamptz PRIMARY KEY,
        messages integer NOT NULL DEFAULT 0,
        requests integer NOT NULL DEFAULT 0,
        errors integer NOT NULL DEFAULT 0,
        active_users integer NOT NULL DEFAULT 0,
        p95_latency_ms double precision NOT NULL DEFAULT 0
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of ['metric_samples', 'conversation_events', 'reactions', 'messages', 'memberships', 'conversations', 'users']) {
      await q.query(`DROP TABLE ${table}`);
    }
  }
}
