import type { DataSource } from 'typeorm';
import { AccountExport, AccountExportStatus } from '../entities/account-export.entity';
import type { JobDefinition } from './job';
import type { JobQueue } from './queue';

export interface AccountExportPayload {
  exportId: string;
}

/**
 * Writes a user's data — profile, memberships, and the messages they wrote (bodies of deleted ones
 * left out) — as one JSON document into their account_exports row. Idempotent: a finished export
 * is left alone. After the last failed attempt the export is marked FAILED.
 */
export const accountExportJob: JobDefinition<AccountExportPayload> = {
  name: 'account-export',
  // A large account's messages take a while to gather.
  timeoutSeconds: 30 * 60,
  async run({ dataSource }, { exportId }, { now, lastAttempt }) {
    try {
      const [request] = await dataSource.query(`SELECT user_id AS "userId", status FROM account_exports WHERE id = $1`, [exportId]);
      if (!request || request.status !== AccountExportStatus.PENDING) return;
      const [[profile], memberships, messages] = await Promise.all([
        dataSource.query(
          `SELECT id, handle, display_name AS "displayName", email, role, created_at AS "createdAt", last_seen_at AS "lastSeenAt" FROM users WHERE id = $1`,
          [request.userId],
        ),
        dataSource.query(
          `SELECT c.id AS "conversationId", c.kind, c.title, m.role, m.joined_at AS "joinedAt", m.last_read_seq AS "lastReadSeq"
           FROM memberships m JOIN conversations c ON c.id = m.conversation_id WHERE m.user_id = $1 ORDER BY m.joined_at`,
          [request.userId],
        ),
        dataSource.query(
          `SELECT id, conversation_id AS "conversationId", seq, CASE WHEN deleted_at IS NULL THEN body END AS body,
                  created_at AS "createdAt", edited_at AS "editedAt", deleted_at AS "deletedAt"
           FROM messages WHERE author_id = $1 ORDER BY created_at, id`,
          [request.userId],
        ),
      ]);
      const document = { format: 'parley-account-export', version: 1, exportedAt: now().toISOString(), profile, memberships, messages };
      await dataSource.query(`UPDATE account_exports SET status = $2, document = $3, completed_at = $4 WHERE id = $1 AND status = $5`, [
        exportId,
        AccountExportStatus.READY,
        document,
        now(),
        AccountExportStatus.PENDING,
      ]);
    } catch (error) {
      if (lastAttempt) await dataSource.query(`UPDATE account_exports SET status = $2, completed_at = $3 WHERE id = $1`, [exportId, AccountExportStatus.FAILED, now()]);
      throw error;
    }
  },
};

/** Records an export request and enqueues its job in the same transaction: one never exists without the other. */
export async function requestAccountExport(deps: { dataSource: DataSource; jobs: JobQueue }, userId: string): Promise<AccountExport> {
  return deps.dataSource.transaction(async (manager) => {
    const created = await manager.getRepository(AccountExport).save(manager.getRepository(AccountExport).create({ userId }));
    await deps.jobs.send(accountExportJob, { exportId: created.id }, { manager });
    return created;
  });
}
