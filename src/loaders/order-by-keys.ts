/**
 * Reorders batch results to the DataLoader contract: one value per key, in key order, `null` for
 * a key with no row. Throws when rows carry a key that was not asked for, which means a batch
 * function selected the wrong rows.
 */
export function orderByKeys<K, V>(loader: string, keys: readonly K[], rows: readonly V[], keyOf: (row: V) => K): (V | null)[] {
  const byKey = new Map<K, V>();
  const wanted = new Set(keys);
  for (const row of rows) {
    const key = keyOf(row);
    if (!wanted.has(key)) throw new Error(`${loader} batch returned a row for key ${String(key)}, which was not requested`);
    byKey.set(key, row);
  }
  return keys.map((key) => byKey.get(key) ?? null);
}
