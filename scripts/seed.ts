import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import { SingleBar, Presets } from 'cli-progress';
import type { PoolClient } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { DataSource } from 'typeorm';
import { loadConfig } from '../src/config';
import { openDatabase } from '../src/database/open-database';
import { ConversationKind } from '../src/entities/conversation.entity';
import { MemberRole } from '../src/entities/membership.entity';
import { createLogger } from '../src/observability/logger';
import { hashPassword } from '../src/security/passwords';

/** Every seeded user signs in with this password. */
export const SEED_PASSWORD = 'parley-seed-password';

const FIRST = ['ada', 'alan', 'grace', 'linus', 'margaret', 'ken', 'barbara', 'dennis', 'frances', 'edsger', 'radia', 'tim', 'hedy', 'john', 'katherine', 'guido', 'anita', 'bjarne', 'sophie', 'niklaus', 'lynn', 'donald', 'joan', 'leslie', 'shafi', 'whitfield', 'jean', 'brian', 'carol', 'yukihiro'];
const LAST = ['lovelace', 'turing', 'hopper', 'torvalds', 'hamilton', 'thompson', 'liskov', 'ritchie', 'allen', 'dijkstra', 'perlman', 'lee', 'lamarr', 'backus', 'johnson', 'rossum', 'borg', 'stroustrup', 'wilson', 'wirth', 'conway', 'knuth', 'clarke', 'lamport', 'goldwasser', 'diffie', 'sammet', 'kernighan', 'shaw', 'matsumoto'];
const WORDS = (
  'the a to and of in is it you that for on we can this be with have are not do at ship deploy review ' +
  'merge branch test build release fix bug issue ticket customer order refund invoice meeting lunch coffee today ' +
  'tomorrow yesterday morning please thanks great sounds good idea plan update status blocked done soon maybe ' +
  'database index query cache latency queue worker retry timeout alert page incident postmortem dashboard metric ' +
  'design draft feedback launch sprint roadmap demo slides budget hire onboarding weekend holiday flight hotel ' +
  'rabbit garden tea party clock queen card hole mirror looking glass wonder curious'
).split(' ');
const EMOJI = ['👍', '❤️', '😂', '🎉', '👀', '🙏', '🚀', '✅'];

/** A small deterministic PRNG (mulberry32), so the same arguments seed the same data. */
function random(seed: number) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** COPY text-format field: escapes what the format treats specially. */
function field(value: string | number | null): string {
  if (value === null) return '\\N';
  return String(value).replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\r/g, '\\r');
}

/** Streams rows into `COPY table (columns) FROM STDIN`, honouring back-pressure. */
async function copyRows(client: PoolClient, table: string, columns: string[], rows: Iterable<(string | number | null)[]>, tick: (n: number) => void) {
  const stream = client.query(copyFrom(`COPY ${table} (${columns.join(', ')}) FROM STDIN`));
  const finished = once(stream, 'finish');
  let buffer = '';
  let count = 0;
  for (const row of rows) {
    buffer += `${row.map(field).join('\t')}\n`;
    count += 1;
    if (buffer.length > 1 << 16) {
      if (!stream.write(buffer)) await once(stream, 'drain');
      buffer = '';
      tick(count);
      count = 0;
    }
  }
  stream.end(buffer);
  tick(count);
  await finished;
}

interface SeedOptions {
  users: number;
  conversations: number;
  messages: number;
  seed: number;
}

interface SeededConversation {
  id: string;
  kind: ConversationKind;
  members: string[];
  messages: number;
  startedAt: number;
}

/**
 * Fills the database with realistic data: users with real-looking handles, conversations of every
 * kind with 2–12 members chosen with a popularity skew, messages spread over conversations with a
 * long tail (a few very busy, most quiet), reactions on some messages, and for every stored change
 * its event at the next seq — the same shape the API writes, loaded with COPY.
 */
export async function seed(dataSource: DataSource, options: SeedOptions, bar?: SingleBar): Promise<{ conversationIds: string[] }> {
  const rand = random(options.seed);
  const pick = <T>(list: readonly T[]) => list[Math.floor(rand() * list.length)];
  const runner = dataSource.createQueryRunner();
  const client = (await runner.connect()) as PoolClient;
  const total = options.users + options.conversations * 4 + options.messages * 1.05;
  bar?.start(Math.round(total), 0);
  const tick = (n: number) => bar?.increment(n);
  try {
    const [{ count: existing }] = await dataSource.query('SELECT count(*)::int AS count FROM users');
    const passwordHash = await hashPassword(SEED_PASSWORD);
    const now = Date.now();
    const userIds = Array.from({ length: options.users }, () => randomUUID());
    await copyRows(
      client,
      'users',
      ['id', 'handle', 'display_name', 'email', 'password_hash', 'created_at'],
      (function* () {
        for (let i = 0; i < options.users; i++) {
          const first = pick(FIRST);
          const last = pick(LAST);
          const handle = `${first}_${last}_${existing + i}`.slice(0, 32);
          const display = `${first[0].toUpperCase()}${first.slice(1)} ${last[0].toUpperCase()}${last.slice(1)}`;
          yield [userIds[i], handle, display, `${handle}@example.com`, passwordHash, new Date(now - 200 * 86_400_000 + i * 1000).toISOString()];
        }
      })(),
      tick,
    );

    // Popular users are in many conversations: index ~ users * r², so low indexes are chosen often.
    const popularUser = () => userIds[Math.floor(options.users * rand() ** 2)];
    const weights = Array.from({ length: options.conversations }, (_, i) => 1 / (i + 1) ** 0.9);
    const weightSum = weights.reduce((a, b) => a + b, 0);
    let assigned = 0;
    const directPairs = new Set<string>();
    const conversations: SeededConversation[] = weights.map((w, i) => {
      let kind = i % 10 < 2 ? ConversationKind.DIRECT : i % 10 === 2 ? ConversationKind.SUPPORT : ConversationKind.GROUP;
      const size = Math.min(options.users, kind === ConversationKind.DIRECT ? 2 : kind === ConversationKind.SUPPORT ? 2 + Math.floor(rand() * 2) : 3 + Math.floor(rand() * 10));
      const members = new Set<string>();
      while (members.size < size) members.add(popularUser());
      // One DIRECT conversation per pair (a unique index says so): a repeated pair becomes a group.
      if (kind === ConversationKind.DIRECT) {
        const pair = [...members].sort().join(':');
        if (directPairs.has(pair)) kind = ConversationKind.GROUP;
        directPairs.add(pair);
      }
      const messages = i === options.conversations - 1 ? options.messages - assigned : Math.floor((options.messages * w) / weightSum);
      assigned += messages;
      return { id: randomUUID(), kind, members: [...members], messages, startedAt: now - 90 * 86_400_000 - Math.floor(rand() * 30 * 86_400_000) };
    });
    await copyRows(
      client,
      'conversations',
      ['id', 'kind', 'title', 'created_by_id', 'created_at', 'direct_key'],
      conversations.map((c, i) => {
        const direct = c.kind === ConversationKind.DIRECT;
        const title = direct ? null : `${pick(WORDS)} ${pick(WORDS)} #${i}`;
        return [c.id, c.kind, title, c.members[0], new Date(c.startedAt).toISOString(), direct ? [...c.members].sort().join(':') : null];
      }),
      tick,
    );
    await copyRows(
      client,
      'memberships',
      ['conversation_id', 'user_id', 'role', 'joined_at'],
      (function* () {
        for (const c of conversations) {
          for (const [i, member] of c.members.entries()) {
            yield [c.id, member, i === 0 ? MemberRole.OWNER : MemberRole.MEMBER, new Date(c.startedAt + i * 1000).toISOString()];
          }
        }
      })(),
      tick,
    );

    // Maintaining a GIN index row by row is the slowest part of a bulk load; building it once at the
    // end is several times faster. Its definition is read back from the database, so it stays the migration's.
    const [ftsIndex] = options.messages >= 100_000
      ? await dataSource.query(`SELECT pg_get_indexdef(indexrelid) AS definition FROM pg_index WHERE indexrelid = 'messages_body_fts_idx'::regclass`)
      : [];
    if (ftsIndex) await client.query('DROP INDEX messages_body_fts_idx');

    const reactions: (string | number | null)[][] = [];
    // The unread counters' trigger would update every other member's row for each message, a
    // million times over; the counters are counted once after the load instead. All in one
    // transaction: the trigger is off for this load only (an interrupted seed rolls the switch back
    // with the rows), and a server writing meanwhile waits for the table instead of going uncounted.
    await client.query('BEGIN');
    try {
      await client.query('ALTER TABLE messages DISABLE TRIGGER messages_unread_added');
      await copyRows(
        client,
        'messages',
        ['id', 'conversation_id', 'author_id', 'seq', 'body', 'client_message_id', 'created_at'],
        (function* () {
          for (const c of conversations) {
            const span = now - c.startedAt - 60_000;
            for (let n = 1; n <= c.messages; n++) {
              const id = randomUUID();
              const words = Array.from({ length: 3 + Math.floor(rand() * 20) }, () => pick(WORDS));
              words[0] = words[0][0].toUpperCase() + words[0].slice(1);
              const body = `${words.join(' ')}${rand() < 0.15 ? '?' : '.'}`;
              const createdAt = new Date(c.startedAt + 60_000 + Math.floor((span * n) / (c.messages + 1)));
              yield [id, c.id, pick(c.members), c.members.length + n, body, randomUUID(), createdAt.toISOString()];
              if (rand() < 0.05) {
                const reactors = new Set(Array.from({ length: 1 + Math.floor(rand() * 3) }, () => pick(c.members)));
                for (const user of reactors) reactions.push([id, user, pick(EMOJI), new Date(createdAt.getTime() + 5_000).toISOString()]);
              }
            }
          }
        })(),
        tick,
      );
      await client.query('ALTER TABLE messages ENABLE TRIGGER messages_unread_added');
      await client.query(
        `UPDATE memberships ms SET unread_messages = (SELECT count(*) FROM messages m WHERE m.conversation_id = ms.conversation_id
           AND m.seq > ms.last_read_seq AND m.author_id <> ms.user_id AND m.deleted_at IS NULL)
         WHERE ms.conversation_id = ANY ($1::uuid[])`,
        [conversations.map((c) => c.id)],
      );
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK');
      throw error;
    }
    if (ftsIndex) {
      await client.query(`SET maintenance_work_mem = '512MB'`);
      await client.query(ftsIndex.definition);
      await client.query('RESET maintenance_work_mem');
    }
    await copyRows(client, 'reactions', ['message_id', 'user_id', 'emoji', 'created_at'], reactions, tick);

    // Every stored change gets its event at the conversation's next seq: joins, then messages, then
    // reactions. The seeded ids go into a hashed temporary table: `= ANY(array)` would compare each row
    // with every id.
    await client.query('BEGIN');
    try {
      await client.query('CREATE TEMPORARY TABLE seeded (id uuid PRIMARY KEY) ON COMMIT DROP');
      await client.query('INSERT INTO seeded SELECT unnest($1::uuid[])', [conversations.map((c) => c.id)]);
      await client.query('ANALYZE seeded');
      await client.query(
        `INSERT INTO conversation_events (conversation_id, seq, type, payload, occurred_at)
         SELECT conversation_id, row_number() OVER (PARTITION BY conversation_id ORDER BY joined_at, user_id), 'MemberJoined',
                jsonb_build_object('userId', user_id), joined_at
         FROM memberships JOIN seeded ON seeded.id = conversation_id`,
      );
      await client.query(
        `INSERT INTO conversation_events (conversation_id, seq, type, payload, occurred_at)
         SELECT conversation_id, seq, 'MessageAdded', jsonb_build_object('messageId', m.id), created_at
         FROM messages m JOIN seeded ON seeded.id = m.conversation_id`,
      );
      tick(options.messages * 0.03);
      await client.query(
        `INSERT INTO conversation_events (conversation_id, seq, type, payload, occurred_at)
         SELECT m.conversation_id, base.seq + row_number() OVER (PARTITION BY m.conversation_id ORDER BY r.created_at, r.message_id, r.user_id, r.emoji),
                'ReactionChanged', jsonb_build_object('messageId', r.message_id, 'userId', r.user_id, 'emoji', r.emoji, 'added', true), r.created_at
         FROM reactions r
         JOIN messages m ON m.id = r.message_id
         JOIN (SELECT conversation_id, max(seq) AS seq FROM conversation_events JOIN seeded ON seeded.id = conversation_id GROUP BY 1) base
           ON base.conversation_id = m.conversation_id`,
      );
      await client.query(
        `UPDATE conversations c SET last_seq = e.last_seq, last_message_at = m.last_at
         FROM (SELECT conversation_id, max(seq) AS last_seq FROM conversation_events JOIN seeded ON seeded.id = conversation_id GROUP BY 1) e
         LEFT JOIN (SELECT conversation_id, max(created_at) AS last_at FROM messages JOIN seeded ON seeded.id = conversation_id GROUP BY 1) m
           USING (conversation_id)
         WHERE c.id = e.conversation_id`,
      );
      // Read markers as people leave them: most members are nearly caught up (0–29 events behind),
      // one in ten is far behind (half the conversation unread).
      await client.query(
        `UPDATE memberships ms SET last_read_seq = CASE WHEN abs(hashtext(ms.user_id::text || ms.conversation_id::text)) % 10 = 0
           THEN c.last_seq / 2 ELSE greatest(0, c.last_seq - abs(hashtext(ms.conversation_id::text || ms.user_id::text)) % 30) END
         FROM conversations c JOIN seeded ON seeded.id = c.id WHERE ms.conversation_id = c.id`,
      );
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK');
      throw error;
    }
    tick(options.messages * 0.02);
    await client.query('ANALYZE users, conversations, memberships, messages, reactions, conversation_events');
    return { conversationIds: conversations.map((c) => c.id) };
  } finally {
    bar?.stop();
    await runner.release();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      users: { type: 'string', default: '1000' },
      conversations: { type: 'string', default: '200' },
      messages: { type: 'string', default: '50000' },
      seed: { type: 'string', default: '1' },
    },
  });
  const options = Object.fromEntries(
    Object.entries(values).map(([name, value]) => {
      const n = Number(value);
      if (!Number.isInteger(n) || n < (name === 'messages' ? 0 : 1)) throw new Error(`--${name} must be a whole number, got ${JSON.stringify(value)}`);
      return [name, n];
    }),
  ) as unknown as SeedOptions;
  if (options.users < 2) throw new Error('--users must be at least 2 (conversations need two people)');

  const config = loadConfig();
  const database = await openDatabase(config, createLogger({ ...config, log: { level: 'warn', pretty: true } }));
  const started = Date.now();
  try {
    console.log(`seeding ${options.users} users, ${options.conversations} conversations, ${options.messages} messages`);
    await seed(database.dataSource, options, new SingleBar({ format: ' {bar} {percentage}% | {value}/{total} rows | {duration}s' }, Presets.shades_classic));
    console.log(`done in ${((Date.now() - started) / 1000).toFixed(1)} s; every seeded user's password is "${SEED_PASSWORD}"`);
  } finally {
    await database.close();
  }
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
