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
  flush(): void;
  sync(): void;
  sendCopyFail(message: string): void;
  on(event: 'parseComplete', listener: () => void): this;
  off(event: 'parseComplete', listener: () => void): this;
}

export interface BatchOutcome {
  skipped: BatchedStatement[];
  broken: boolean;
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
 * first time a connection sees a named one) and a Flush, in one socket write, then one Sync.
 * PostgreSQL runs them in order and sends each answer as soon as it has it (the Flush), so a
 * statement's caller does not wait for the ones behind it. Each caller gets its own rows.
 *
 * One Sync makes the statements one implicit transaction, which is why only reads may share a
 * batch: an error in one ends the transaction, and a write acknowledged before it would be rolled
 * back. (It also holds the statements' table locks, ACCESS SHARE, until the last is done.) When a
 * statement fails, its caller gets the error, the statements before it keep their rows, and those
 * after it (which PostgreSQL skipped) are handed back in `settled` to run again.
 */
export class StatementBatch implements Submittable {
  /**
   * Resolves when PostgreSQL has answered (or failed) the batch: with the statements it skipped,
   * and whether the connection is unfit to keep (lost, or ended by the server).
   */
  readonly settled: Promise<BatchOutcome>;
  /** Set by node-postgres's Client.query (it wraps it to clear a `query_timeout` timer). */
  callback?: (error: unknown) => void;
  private finish!: (outcome: BatchOutcome) => void;
  private finished = false;
  private current = 0;
  private result: PgResult;
  private rowError: unknown = undefined;
  /** Statements this batch sent a Parse for, in order, whose ParseComplete has not come yet (it names none). */
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
    let sent = 0;
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
        protocol.flush();
        sent += 1;
      }
    } catch (error) {
      // The statement that threw fails (of it, at most a Parse went out, which prepares it and
      // nothing more), and the Sync below closes what was sent, so the connection stays in step.
      this.statements[sent].reject(error);
      this.statements.splice(sent, 1);
    } finally {
      protocol.sync();
      protocol.stream.uncork();
    }
  }

  handleRowDescription(message: { fields: FieldDef[] }): void {
    if (this.finished) return;
    this.result.addFields(message.fields);
  }

  handleDataRow(message: { fields: unknown[] }): void {
    if (this.finished || this.rowError !== undefined) return;
    try {
      this.result.rows.push(this.result.parseRow(message.fields));
    } catch (error) {
      this.rowError = error; // a value its type parser refused: that statement fails, the others stand
    }
  }

  handleCommandComplete(): void {
    if (this.finished) return;
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
    this.done({ skipped: this.statements.slice(this.current), broken: false });
  }

  /**
   * PostgreSQL refused the current statement (it skips the rest up to the Sync), or the
   * connection is gone (every statement not answered fails).
   */
  handleError(error: unknown): void {
    if (this.finished) return;
    if (!(error instanceof DatabaseError)) {
      for (const statement of this.statements.slice(this.current)) statement.reject(error);
      this.done({ skipped: [], broken: true });
      return;
    }
    this.statements[this.current]?.reject(error);
    // An ERROR leaves the connection fit (the server skips to the Sync; what it prepared before the
    // error is recorded, what it skipped is not); FATAL and PANIC end it.
    this.done({ skipped: this.statements.slice(this.current + 1), broken: error.severity === 'FATAL' || error.severity === 'PANIC' });
  }

  handlePortalSuspended(): void {}
  /** A COPY FROM STDIN is no read: refuse it as node-postgres's Query does, or the server waits for data forever. */
  handleCopyInResponse(connection: Connection): void {
    (connection as unknown as ProtocolConnection).sendCopyFail('COPY is not a read: no source stream');
  }
  handleCopyData(): void {}

  private done(outcome: BatchOutcome): void {
    if (this.finished) return;
    this.finished = true;
    this.connection?.off('parseComplete', this.onParseComplete);
    this.callback?.(null);
    this.finish(outcome);
  }
}
