/**
 * One string instance per distinct value, for strings that many long-lived subscriptions hold: a
 * conversation's id and channel name, the variables of a shared document. Ten thousand subscribers
 * of one conversation then keep one copy instead of ten thousand. Bounded: past 100,000 values the
 * table starts over (strings already handed out stay valid, they are just no longer shared).
 */
const table = new Map<string, string>();

export function intern(text: string): string {
  const known = table.get(text);
  if (known !== undefined) return known;
  if (table.size >= 100_000) table.clear();
  table.set(text, text);
  return text;
}

/** `variables` with every top-level string value interned (a new object; the input is not changed). */
export function internStrings(variables: Record<string, unknown> | null | undefined): Record<string, unknown> | undefined {
  if (!variables) return undefined;
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(variables)) out[name] = typeof value === 'string' ? intern(value) : value;
  return out;
}
