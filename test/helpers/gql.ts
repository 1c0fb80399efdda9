import type { GraphQLFormattedError } from 'graphql';
import { operation } from './operations';

export interface GqlResponse<T = Record<string, unknown>> {
  status: number;
  headers: Headers;
  data?: T | null;
  errors?: GraphQLFormattedError[];
}

export interface GqlOptions {
  token?: string;
  headers?: Record<string, string>;
}

/** POSTs one operation to the app's `/graphql` and returns status, headers and the parsed body. */
export async function gql<T = Record<string, unknown>>(
  app: { url: string },
  query: string,
  variables?: Record<string, unknown>,
  { token, headers = {} }: GqlOptions = {},
): Promise<GqlResponse<T>> {
  const response = await fetch(app.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as { data?: T | null; errors?: GraphQLFormattedError[] };
  return { status: response.status, headers: response.headers, ...body };
}

/** The `extensions.code` of every error, for compact assertions. */
export function errorCodes(response: { errors?: GraphQLFormattedError[] }): unknown[] {
  return (response.errors ?? []).map((e) => e.extensions?.code);
}

/** Runs one of the example operations of operations/*.graphql by name. */
export function runOperation<T = Record<string, any>>(app: { url: string }, name: string, variables?: Record<string, unknown>, options?: GqlOptions) {
  return gql<T>(app, operation(name), variables, options);
}

/** `gql`, for setup steps that must succeed: the data, or a thrown error naming the GraphQL errors. */
export async function gqlData<T>(app: { url: string }, query: string, variables?: Record<string, unknown>, options: GqlOptions = {}): Promise<T> {
  const response = await gql<T>(app, query, variables, options);
  if (response.errors?.length) throw new Error(JSON.stringify(response.errors));
  return response.data as T;
}
