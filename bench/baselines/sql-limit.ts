// Baseline ("limit") for S1: the nested inbox query answered by one hand-written SQL statement
// that builds the whole JSON in PostgreSQL, behind a bare node:http handler. No GraphQL, no auth:
// the least work any server could do for the same data. Started as its own process.
import { createServer } from 'node:http';
import { Pool } from 'pg';

const pool = new Pool({ connectionString: process.env.DATABASE_URL, max: 10, options: `-c search_path=${process.env.DATABASE_SCHEMA}` });

const INBOX = `
WITH convs AS (
  SELECT c.id, c.last_message_at, c.created_at, vm.last_read_seq FROM memberships vm JOIN conversations c ON c.id = vm.conversation_id
  WHERE vm.user_id = $1 ORDER BY coalesce(c.last_message_at, c.created_at) DESC, c.id DESC LIMIT $2),
nodes AS (
  SELECT c.last_message_at, c.created_at, c.id, json_build_object(
    'lastMessage', (SELECT json_build_object('author', json_build_object('handle', u.handle)) FROM messages m JOIN users u ON u.id = m.author_id
                    WHERE m.conversation_id = c.id ORDER BY m.seq DESC LIMIT 1),
    'unreadCount', (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id AND m.seq > c.last_read_seq AND m.author_id <> $1 AND m.deleted_at IS NULL),
    'members', json_build_object('edges', (
      SELECT coalesce(json_agg(json_build_object('node', json_build_object('handle', u.handle)) ORDER BY ms.joined_at, ms.user_id), '[]')
      FROM (SELECT * FROM memberships WHERE conversation_id = c.id ORDER BY joined_at, user_id LIMIT 5) ms JOIN users u ON u.id = ms.user_id)),
    'messages', json_build_object('edges', (
      SELECT coalesce(json_agg(json_build_object('node', json_build_object('body', x.body, 'author', x.author, 'reactions', x.reactions)) ORDER BY x.seq), '[]')
      FROM (
        SELECT m.seq, CASE WHEN m.deleted_at IS NULL THEN m.body END AS body, json_build_object('handle', u.handle) AS author,
               (SELECT coalesce(json_agg(json_build_object('emoji', r.emoji, 'count', r.n)), '[]')
                FROM (SELECT emoji, count(*) AS n FROM reactions WHERE message_id = m.id GROUP BY emoji) r) AS reactions
        FROM messages m JOIN users u ON u.id = m.author_id WHERE m.conversation_id = c.id ORDER BY m.seq DESC LIMIT 20) x))
  ) AS node
  FROM convs c)
SELECT json_build_object('data', json_build_object('conversations', json_build_object('edges',
  coalesce(json_agg(json_build_object('node', node) ORDER BY coalesce(last_message_at, created_at) DESC, id DESC), '[]')))) AS body
FROM nodes`;

const server = createServer((req, res) => {
  if (req.url === '/readyz') return res.end('ok');
  req.resume();
  req.on('end', async () => {
    try {
      const { rows } = await pool.query(INBOX, [req.headers['x-viewer'], Number(req.headers['x-first'] ?? 10)]);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(rows[0].body));
    } catch (error) {
      res.writeHead(500).end(String(error));
    }
  });
});
server.listen(Number(process.env.PORT), process.env.HOST ?? '127.0.0.1');
