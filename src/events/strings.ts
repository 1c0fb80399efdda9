import { LRUCache } from 'lru-cache';

/**
 * One string instance per distinct value, for strings that many long-lived subscriptions hold: a
 * conversation's id and channel name, the document and variables of a shared subscription. Ten
 * thousand subscribers of one conversation then keep one copy instead of ten thousand. An LRU,
 * bounded in count, in characters and in age: a value dropped from it stays valid where it was
 * handed out, it is just no longer shared with what comes later.
 */
export function createStringTable({ max = 100_000, maxChars = 8_000_000, ttlMs = 30 * 60_000 }: { max?: number; maxChars?: number; ttlMs?: number } = {}) {
  const table = new LRUCache<string, string>({ max, maxSize: maxChars, sizeCalculation: (text) => Math.max(1, text.length), ttl: ttlMs, updateAgeOnGet: true });
  const intern = (text: string): string => {
    const known = table.get(text);
    if (known !== undefined) return known;
    table.set(text, text);
    return text;
  };
  return { intern };
}

export type StringTable = ReturnType<typeof createStringTable>;
