import { GraphQLError } from 'graphql';
import { databaseUnavailable, violatedUniqueIndex } from './postgres-errors';

describe('databaseUnavailable', () => {
  const wrapped = (inner: unknown) => new GraphQLError('boom', { originalError: Object.assign(new Error('query failed'), { driverError: inner }) });

  it.each([
    ['a refused connection', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })],
    ['an administrator shutdown (57P01)', { code: '57P01', message: 'terminating connection due to administrator command' }],
    ['the server starting up (57P03)', { code: '57P03', message: 'the database system is starting up' }],
    ['a connection failure (class 08)', { code: '08006', message: 'connection failure' }],
    ['too many connections (53300)', { code: '53300', message: 'sorry, too many clients already' }],
    ['a dropped connection', new Error('Connection terminated unexpectedly')],
    ['a pool that could not connect in time', new Error('timeout exceeded when trying to connect')],
  ])('is true for %s, however deeply wrapped', (_case, inner) => {
    expect(databaseUnavailable(inner)).toBe(true);
    expect(databaseUnavailable(wrapped(inner))).toBe(true);
  });

  it('is true for TypeORM refusing a transaction whose connection died', () => {
    expect(databaseUnavailable(Object.assign(new Error('Query runner already released.'), { name: 'QueryRunnerAlreadyReleasedError' }))).toBe(true);
  });

  it('is false for what retrying will not fix', () => {
    expect(databaseUnavailable(wrapped({ code: '42P01', message: 'relation "users" does not exist' }))).toBe(false);
    expect(databaseUnavailable(wrapped({ code: '23505', constraint: 'users_handle_key' }))).toBe(false);
    expect(databaseUnavailable(new Error('Cannot read properties of undefined'))).toBe(false);
    expect(violatedUniqueIndex(wrapped({ code: '23505', constraint: 'users_handle_key' }).originalError)).toBe('users_handle_key');
  });
});
