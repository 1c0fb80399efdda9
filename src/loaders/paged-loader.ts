import DataLoader from 'dataloader';
import type { BatchedPage } from '../pagination/batched-pages';
import type { CursorCodec, CursorKey } from '../pagination/cursor';
import type { PageRequest } from '../pagination/page-args';

export interface PageKey {
  parentId: string;
  request: PageRequest;
}

export interface LoadedPage<T> extends BatchedPage<T> {
  /** The list's name, which cursors of its edges are bound to. */
  list: string;
  request: PageRequest;
}

export interface PagedLoaderOptions<T> {
  cursors: CursorCodec;
  /** The name cursors of one parent's list are bound to, e.g. `messages:<conversationId>`. */
  listName(parentId: string): string;
  /** Loads the same page for many parents in one statement (see `loadBatchedPages`). */
  load(parentIds: string[], request: PageRequest, cursorKey: CursorKey | null): Promise<Map<string, BatchedPage<T>>>;
}

/**
 * DataLoader for "page N of each parent's child list": keys asking for the same page (same size,
 * direction and cursor position) are loaded together in one statement. A cursor that does not
 * belong to a parent's list fails that parent's field alone, with BAD_USER_INPUT.
 */
export function createPagedLoader<T>(options: PagedLoaderOptions<T>): DataLoader<PageKey, LoadedPage<T>, string> {
  return new DataLoader<PageKey, LoadedPage<T>, string>(
    async (keys) => {
      const results = new Map<PageKey, LoadedPage<T> | Error>();
      const groups = new Map<string, { request: PageRequest; cursorKey: CursorKey | null; keys: PageKey[] }>();
      for (const key of keys) {
        let cursorKey: CursorKey | null = null;
        try {
          if (key.request.cursor) cursorKey = options.cursors.decode(options.listName(key.parentId), key.request.cursor);
        } catch (error) {
          results.set(key, error as Error);
          continue;
        }
        const group = JSON.stringify([key.request.direction, key.request.size, cursorKey]);
        if (!groups.has(group)) groups.set(group, { request: key.request, cursorKey, keys: [] });
        groups.get(group)!.keys.push(key);
      }
      await Promise.all(
        [...groups.values()].map(async ({ request, cursorKey, keys: groupKeys }) => {
          const pages = await options.load([...new Set(groupKeys.map((k) => k.parentId))], request, cursorKey);
          for (const key of groupKeys) {
            const { rows, keys: rowKeys, beyond, extra } = pages.get(key.parentId) ?? { rows: [], keys: [], beyond: false, extra: {} };
            results.set(key, { rows, keys: rowKeys, beyond, extra, list: options.listName(key.parentId), request: key.request });
          }
        }),
      );
      return keys.map((key) => results.get(key)!);
    },
    { cacheKeyFn: (key) => JSON.stringify([key.parentId, key.request]) },
  );
}
