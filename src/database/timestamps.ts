import { types as pgTypes } from 'pg';

/** OID of `timestamptz`, the type of every point in time Parley stores. */
const TIMESTAMPTZ = 1184;

/**
 * ISO 8601 text (`2026-12-01T10:00:00.123Z`, exactly what `Date#toISOString` writes) from
 * PostgreSQL's text form of a timestamptz in a UTC session; null for any other form (another time
 * zone, year 10000 and on, BC, ±infinity), which `timestampFromPostgres` handles.
 * Milliseconds are the first three digits of the fraction, cut, as a Date keeps them.
 */
export function isoFromPostgres(text: string): string | null {
  // yyyy-mm-dd hh:mm:ss[.f{1,6}]+00
  const { length } = text;
  if (length < 22 || length > 29 || text.charCodeAt(10) !== 32 || text.charCodeAt(length - 3) !== 43 || text.charCodeAt(length - 2) !== 48 || text.charCodeAt(length - 1) !== 48) return null;
  const day = text.slice(0, 10);
  const time = text.slice(11, 19);
  if (length === 22) return `${day}T${time}.000Z`;
  if (text.charCodeAt(19) !== 46) return null;
  const fraction = text.slice(20, length - 3);
  return `${day}T${time}.${fraction.length >= 3 ? fraction.slice(0, 3) : fraction.padEnd(3, '0')}Z`;
}

const WITH_OFFSET = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2})(?:\.(\d{1,6}))?([+-]\d{2})(?::(\d{2}))?$/;

/**
 * A Date from PostgreSQL's text of a timestamptz. node-postgres's own parser multiplies the
 * fraction as a float and loses a millisecond now and then (`.029` became `.028`); this one keeps
 * the digits, in a session of any time zone. The rare forms it does not read (BC, year 10000 and
 * on, ±infinity, offsets with seconds) go to node-postgres's parser.
 */
export function timestampFromPostgres(text: string): Date {
  const iso = isoFromPostgres(text);
  if (iso) return new Date(iso);
  const parts = WITH_OFFSET.exec(text);
  if (!parts) return defaultParser(text) as Date;
  const [, day, time, fraction = '', hours, minutes = '00'] = parts;
  return new Date(`${day}T${time}.${fraction.slice(0, 3).padEnd(3, '0')}${hours}:${minutes}`);
}

/** ISO 8601 text of PostgreSQL's text of a timestamptz, whatever the session's time zone. */
export function isoOfPostgres(text: string): string {
  return isoFromPostgres(text) ?? timestampFromPostgres(text).toISOString();
}

/** ISO 8601 text of a point in time as read paths hold it: a Date, or PostgreSQL's text of one. */
export function isoOfTimestamp(value: Date | string): string {
  return typeof value === 'string' ? isoOfPostgres(value) : value.toISOString();
}

const defaultParser = pgTypes.getTypeParser(TIMESTAMPTZ, 'text');

/** Parley's pool-wide type parsers: exact timestamps (see `timestampFromPostgres`). */
export const poolTypes = {
  getTypeParser: (oid: number, format?: 'text' | 'binary') => (oid === TIMESTAMPTZ && format !== 'binary' ? timestampFromPostgres : pgTypes.getTypeParser(oid, format)),
};

const keepText = (text: string) => text;

/** Type parsers of the lean read paths: timestamps stay PostgreSQL's text (see `Timestamp`). */
export const leanTypes = {
  getTypeParser: (oid: number, format?: 'text' | 'binary') => (oid === TIMESTAMPTZ && format !== 'binary' ? keepText : pgTypes.getTypeParser(oid, format)),
};
