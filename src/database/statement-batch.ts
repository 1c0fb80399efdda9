import type { Connection, CustomTypesConfig, FieldDef, Submittable } from 'pg';
import { DatabaseError } from 'pg';

// node-postgres's own value encoding and row reader (not in its typings), so that a statement of a
// batch sends and reads exactly what pool.query() would.
// eslint-disable-next-line @typescript-eslint/no-require-imports
export const { prepareValue } = require('pg/lib/utils') as { prepareValue(value: unknown): unknown };
// eslint-disable-next-line @typescript-eslint/no-require-imports
const Result = require('pg/lib/result') as new (rowMode: undefined, types: CustomTypesConfig) => PgResult;

interface PgResult {
  rows: unknown[];
  addFields(fields: FieldDef[]): void;
  parseRow(fields: unknown[]): unknown;
}

/** The protocol messages a batch sends, on node-postgres's connection (not in its typings). */
interface ProtocolConnection {
  stream: { cork(): void; uncork(): void };
  parsedStatements: Record<string, string>;
  parse(query: { text: string; name?: string; types?: unknown[] }): void;
  bind(config: { statement?: string; values?: unknown[] }): void;
  describe(config: { type: 'P'; name?: string }): void;
  execute(config: Record<string, never>): void;
  sync(): void;
  on(event: 'parseComplete', listener: () => void): this;
  off(event: 'parseComplete', listener: () => void): this;
}

/** One read of a batch: its text, parameters, prepared-statement name, and who waits for its rows. */
export interface BatchedStatement {
  text: string;
  /** Already encoded with `prepareValue` (which can throw: before anything is written). */
  values: unknown[];
  /** With prepared statements, the name its text is prepared under on each connection. */
  name?: string;
  resolve(rows: unknown[]): void;
  reject(error: unknown): void;
}

/**
 * Read-only statements in one round trip: every statement's Bind/Describe/Execute (and Parse, the
 * first time a connection sees a named one) in one socket write, then one Sync, so PostgreSQL runs
 * them in order and answers them in one flush. Each caller gets its own statement's rows.
 *
 * One Sync makes the statements one implicit transaction, which is why only reads may share a
 * batch: an error in one ends the transaction, and a write acknowledged before it would be rolled
 * back. When a statement fails, its caller gets the error, the statements before it keep their
 * rows, and those after it (which PostgreSQL skipped) are handed back in `settled` to run again.
 */
export class StatementBatch implements Submittable {
  /** Resolves when PostgreSQL has answered (or failed) the batch: with the statements it skipped. */
  readonly settled: Promise<{ skipped: BatchedStatement[]; failed: boolean }>;
  private finish!: (outcome: { skipped: BatchedStatement[]; failed: boolean }) => void;
  private current = 0;
  private result: PgResult;
  private rowError: unknown = undefined;
  /** Named statements parsed by this batch, in order, whose ParseComplete has not come yet. */
  private parsing: BatchedStatement[] = [];
  private connection: ProtocolConnection | undefined;
  private readonly onParseComplete = () => {
    const statement = this.parsing.shift();
    if (statement?.name) this.connection!.parsedStatements[statement.name] = statement.text;
  };

  constructor(
    private readonly statements: BatchedStatement[],
    private readonly types: CustomTypesConfig,
  ) {
    this.settled = new Promise((resolve) => (this.finish = resolve));
    this.result = new Result(undefined, types);
  }

  submit(connection: Connection): void {
    const protocol = (this.connection = connection as unknown as ProtocolConnection);
    // ParseComplete is not routed to a submittable: count them here, so that a connection records
    // as prepared exactly the statements PostgreSQL prepared (not those it skipped after an error).
    protocol.on('parseComplete', this.onParseComplete);
    protocol.stream.cork();
    try {
      // The same read may come twice in one batch (two requests' pages): it is parsed once.
      const parsedHere = new Set<string>();
      for (const statement of this.statements) {
        if (!statement.name || (protocol.parsedStatements[statement.name] === undefined && !parsedHere.has(statement.name))) {
          protocol.parse({ text: statement.text, name: statement.name });
          this.parsing.push(statement);
          if (statement.name) parsedHere.add(statement.name);
        }
        protocol.bind({ statement: statement.name, values: statement.values });
        protocol.describe({ type: 'P' });
        protocol.execute({});
      }
      protocol.sync();
    } finally {
      protocol.stream.uncork();
    }
  }

  handleRowDescription(message: { fields: FieldDef[] }): void {
    this.result.addFields(message.fields);
  }

  handleDataRow(message: { fields: unknown[] }): void {
    if (this.rowError !== undefined) return;
    try {
      this.result.rows.push(this.result.parseRow(message.fields));
    } catch (error) {
      this.rowError = error; // a value its type parser refused: that statement fails, the others stand
    }
  }

  handleCommandComplete(): void {
    const statement = this.statements[this.current++];
    if (this.rowError !== undefined) statement.reject(this.rowError);
    else statement.resolve(this.result.rows);
    this.rowError = undefined;
    this.result = new Result(undefined, this.types);
  }

  handleEmptyQuery(): void {
    this.handleCommandComplete();
  }

  handleReadyForQuery(): void {
    this.done({ skipped: [], failed: false });
  }

  /**
   * PostgreSQL refused the current statement (it skips the rest up to the Sync), or the
   * connection is gone (every statement not answered fails).
   */
  handleError(error: unknown): void {
    if (!(error instanceof DatabaseError)) {
      for (const statement of this.statements.slice(this.current)) statement.reject(error);
      this.done({ skipped: [], failed: true });
      return;
    }
    this.statements[this.current]?.reject(error);
    this.done({ skipped: this.statements.slice(this.current + 1), failed: true });
  }

  handlePortalSuspended(): void {}
  handleCopyInResponse(): void {}
  handleCopyData(): void {}

  private done(outcome: { skipped: BatchedStatement[]; failed: boolean }): void {
    this.connection?.off('parseComplete', this.onParseComplete);
    this.finish(outcome);
  }
}
