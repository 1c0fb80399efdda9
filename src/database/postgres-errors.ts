/** The parts of a node-postgres DatabaseError that Parley inspects (TypeORM wraps it in QueryFailedError). */
interface PostgresError {
  code?: string;
  constraint?: string;
}

function driverError(error: unknown): PostgresError {
  if (typeof error !== 'object' || error === null) return {};
  const inner = (error as { driverError?: unknown }).driverError ?? error;
  return typeof inner === 'object' && inner !== null ? (inner as PostgresError) : {};
}

/** The name of the unique index that refused a row (SQLSTATE 23505), or null for any other error. */
export function violatedUniqueIndex(error: unknown): string | null {
  const inner = driverError(error);
  return inner.code === '23505' ? (inner.constraint ?? '') : null;
}
