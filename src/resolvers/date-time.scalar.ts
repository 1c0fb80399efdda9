import { GraphQLScalarType } from 'graphql';
import { DateTimeResolver } from 'graphql-scalars';
import { isoOfPostgres } from '../database/timestamps';

/** PostgreSQL's text of a timestamptz, as lean reads hand it over (`2026-12-01 10:00:00.123456+00`). */
const looksLikePostgres = (value: string) => value.length >= 22 && value.charCodeAt(10) === 32;

/**
 * graphql-scalars' DateTime (same name, description and parsing), whose answers also take
 * PostgreSQL's text of a timestamp (see `Timestamp` in database/timestamps.ts): it becomes the ISO
 * text a Date would have, without a Date, and only when a client selected the field.
 */
export const DateTimeScalar = new GraphQLScalarType({
  ...DateTimeResolver.toConfig(),
  serialize(value) {
    return typeof value === 'string' && looksLikePostgres(value) ? isoOfPostgres(value) : DateTimeResolver.serialize(value);
  },
});
