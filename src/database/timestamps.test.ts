import fc from 'fast-check';
import { isoFromPostgres, isoOfPostgres, timestampFromPostgres } from './timestamps';

/** PostgreSQL's text of a timestamptz: fraction without trailing zeros, none when whole. */
function postgresText([epochMs, extraMicros]: Instant, offsetMinutes: number): string {
  const local = new Date(epochMs + offsetMinutes * 60_000);
  const micros = local.getUTCMilliseconds() * 1000 + extraMicros;
  const fraction = micros === 0 ? '' : `.${String(micros).padStart(6, '0').replace(/0+$/, '')}`;
  const sign = offsetMinutes < 0 ? '-' : '+';
  const abs = Math.abs(offsetMinutes);
  const offset = `${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}${abs % 60 ? `:${String(abs % 60).padStart(2, '0')}` : ''}`;
  return `${local.toISOString().slice(0, 10)} ${local.toISOString().slice(11, 19)}${fraction}${offset}`;
}

/** An instant to the microsecond, as PostgreSQL keeps it: epoch milliseconds and the microseconds beyond. */
type Instant = [number, number];

/** What the answer must say: the instant, milliseconds cut (not rounded), as a Date keeps them. */
const expectedIso = ([epochMs]: Instant) => new Date(epochMs).toISOString();

describe('timestamps from PostgreSQL text', () => {
  it('reads the forms a UTC session writes without building a Date', () => {
    expect(isoFromPostgres('2026-12-01 10:00:00+00')).toBe('2026-12-01T10:00:00.000Z');
    expect(isoFromPostgres('2026-12-01 10:00:00.5+00')).toBe('2026-12-01T10:00:00.500Z');
    expect(isoFromPostgres('2026-12-01 10:00:00.029+00')).toBe('2026-12-01T10:00:00.029Z');
    expect(isoFromPostgres('2026-12-01 10:00:00.123456+00')).toBe('2026-12-01T10:00:00.123Z');
    expect(isoFromPostgres('2026-12-01 11:00:00+01')).toBeNull();
    expect(isoFromPostgres('infinity')).toBeNull();
    expect(isoFromPostgres('0044-03-15 12:00:00+00 BC')).toBeNull();
  });

  it('keeps every millisecond node-postgres lost to float arithmetic', () => {
    // 1000 * parseFloat('.029') is 28.999999999999996: node-postgres's parser said .028.
    expect(timestampFromPostgres('2026-12-01 10:00:00.029+00').toISOString()).toBe('2026-12-01T10:00:00.029Z');
    expect(timestampFromPostgres('2026-12-01 11:00:00.029+01').toISOString()).toBe('2026-12-01T10:00:00.029Z');
  });

  it('reads any instant in any session time zone as the same ISO text and Date', () => {
    // Years 1970..9998 (an offset must not push the local date past 9999), in µs.
    const instant = fc
      .tuple(fc.date({ min: new Date(0), max: new Date('9998-12-31T00:00:00Z'), noInvalidDate: true }), fc.integer({ min: 0, max: 999 }))
      .map(([date, micros]): Instant => [date.getTime(), micros]);
    const offset = fc.integer({ min: -14 * 4, max: 14 * 4 }).map((quarters) => quarters * 15);
    fc.assert(
      fc.property(instant, offset, (at, minutes) => {
        const text = postgresText(at, minutes);
        expect(isoOfPostgres(text)).toBe(expectedIso(at));
        expect(timestampFromPostgres(text).toISOString()).toBe(expectedIso(at));
      }),
      { numRuns: 2_000 },
    );
  });

  it('leaves the rare forms to node-postgres', () => {
    expect(timestampFromPostgres('infinity')).toBe(Infinity);
    expect(timestampFromPostgres('10000-01-01 00:00:00+00').getUTCFullYear()).toBe(10000);
  });
});
