-- PostGraphile peer (bench suite S1): the functions PostGraphile v5 needs to answer Parley's nested
-- inbox query (bench/suites/nested-query.ts, NESTED) from one GraphQL query. Bench-only: Parley
-- never reads these. Only functions and one composite type are created; no table, column, comment
-- or index of Parley's is touched, so both servers read exactly the same database.
--
-- Names are unqualified: run this with search_path set to the benchmark's schema and nothing else.
-- server.mjs does that itself at start-up (SET LOCAL search_path, in one transaction); by hand:
--   PGOPTIONS='-c search_path=<schema>' psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -f setup.sql
-- The bodies are SQL-standard (BEGIN ATOMIC / RETURN), so their table names are resolved now, in
-- that schema, and not from the caller's search_path (PostGraphile's connections keep the default
-- one); no SET search_path clause is needed, which keeps the functions inlinable by the planner.
-- Re-running it replaces everything it created.

DROP FUNCTION IF EXISTS viewer_conversations(uuid);
DROP FUNCTION IF EXISTS conversations_last_message(conversations);
DROP FUNCTION IF EXISTS conversations_unread_count(conversations, uuid);
DROP FUNCTION IF EXISTS messages_visible_body(messages);
DROP FUNCTION IF EXISTS messages_reaction_summary(messages);
DROP TYPE IF EXISTS reaction_summary;

-- Query.viewerConversations(viewer:, first:) — Parley's Query.conversations: the viewer's
-- conversations, most recent activity first (coalesce(last_message_at, created_at) desc, id desc).
-- The viewer is an argument: like the hand-written SQL baseline, the peer does no authentication.
CREATE FUNCTION viewer_conversations(viewer uuid) RETURNS SETOF conversations
LANGUAGE sql STABLE PARALLEL SAFE
BEGIN ATOMIC
  SELECT c.*
  FROM memberships vm
  JOIN conversations c ON c.id = vm.conversation_id
  WHERE vm.user_id = viewer
  ORDER BY coalesce(c.last_message_at, c.created_at) DESC, c.id DESC;
END;
COMMENT ON FUNCTION viewer_conversations(uuid) IS
  E'The viewer''s conversations, most recent activity first (Parley''s Query.conversations).';

-- Conversation.lastMessage — the newest message (highest seq), deleted or not, as Parley's
-- last-message loader; null for a conversation without messages.
CREATE FUNCTION conversations_last_message(c conversations) RETURNS messages
LANGUAGE sql STABLE PARALLEL SAFE
BEGIN ATOMIC
  SELECT m.* FROM messages m WHERE m.conversation_id = c.id ORDER BY m.seq DESC LIMIT 1;
END;
COMMENT ON FUNCTION conversations_last_message(conversations) IS
  E'The newest message (highest seq) of the conversation (Parley''s Conversation.lastMessage).';

-- Conversation.unreadCount(viewer:) — messages after the viewer's read marker (last_read_seq)
-- that someone else wrote and nobody deleted; 0 when the viewer is not a member.
CREATE FUNCTION conversations_unread_count(c conversations, viewer uuid) RETURNS integer
LANGUAGE sql STABLE PARALLEL SAFE
BEGIN ATOMIC
  SELECT count(*)::integer
  FROM memberships vm
  JOIN messages m ON m.conversation_id = vm.conversation_id AND m.seq > vm.last_read_seq
    AND m.author_id <> vm.user_id AND m.deleted_at IS NULL
  WHERE vm.conversation_id = c.id AND vm.user_id = viewer;
END;
COMMENT ON FUNCTION conversations_unread_count(conversations, uuid) IS
  E'Messages after the viewer''s read marker, not the viewer''s own, not deleted (Parley''s Conversation.unreadCount).';

-- Message.visibleBody — Parley's Message.body: null once the message is deleted (the row keeps its
-- body until the retention job erases it; the raw column would still show it).
CREATE FUNCTION messages_visible_body(m messages) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN m.deleted_at IS NULL THEN m.body END;
COMMENT ON FUNCTION messages_visible_body(messages) IS
  E'The body, or null once the message is deleted (Parley''s Message.body).';

-- Message.reactionSummary — Parley's Message.reactions: one entry per emoji with its count, the
-- emoji first used first (min(created_at), then emoji), as Parley's reactions-by-message loader.
-- A plain list, not a connection (smart tag), as Parley's field is.
CREATE TYPE reaction_summary AS (emoji text, count integer);
COMMENT ON TYPE reaction_summary IS E'One emoji on a message and how many reacted with it.';
CREATE FUNCTION messages_reaction_summary(m messages) RETURNS SETOF reaction_summary
LANGUAGE sql STABLE PARALLEL SAFE
BEGIN ATOMIC
  SELECT r.emoji::text, count(*)::integer
  FROM reactions r
  WHERE r.message_id = m.id
  GROUP BY r.emoji
  ORDER BY min(r.created_at), r.emoji;
END;
COMMENT ON FUNCTION messages_reaction_summary(messages) IS
  E'@behavior -connection +list\nReactions grouped by emoji, first used first (Parley''s Message.reactions).';
