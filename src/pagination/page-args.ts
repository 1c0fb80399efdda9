import { ArgsType, Field, Int } from 'type-graphql';
import { BadUserInputError } from '../errors';

/** Relay arguments of a list that pages both ways. */
@ArgsType()
export class PageArgs {
  @Field(() => Int, { nullable: true })
  first?: number | null;

  @Field(() => String, { nullable: true })
  after?: string | null;

  @Field(() => Int, { nullable: true })
  last?: number | null;

  @Field(() => String, { nullable: true })
  before?: string | null;
}

/** Relay arguments of a list that pages forward only. */
@ArgsType()
export class ForwardPageArgs {
  @Field(() => Int, { nullable: true })
  first?: number | null;

  @Field(() => String, { nullable: true })
  after?: string | null;
}

/** A validated page request: `forward` reads the list in its natural order, `backward` from its end. */
export interface PageRequest {
  direction: 'forward' | 'backward';
  /** Rows wanted (1..max). */
  size: number;
  /** The opaque cursor to start after (forward) or before (backward), if any. */
  cursor: string | null;
}

export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;

function checkSize(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1 || value > MAX_PAGE_SIZE) {
    throw new BadUserInputError(`${name} must be between 1 and ${MAX_PAGE_SIZE}, got ${value}.`, { argument: name });
  }
  return value;
}

/**
 * Turns Relay arguments into one page request. `first`/`after` page forward, `last`/`before`
 * backward; mixing the two directions is refused rather than guessed at.
 */
export function toPageRequest(args: PageArgs | ForwardPageArgs): PageRequest {
  const { first, after } = args;
  const { last, before } = args as PageArgs;
  const forward = first != null || after != null;
  const backward = last != null || before != null;
  if (forward && backward) {
    throw new BadUserInputError('Page forward with first/after or backward with last/before, not both at once.', { argument: 'first' });
  }
  if (backward) return { direction: 'backward', size: last != null ? checkSize('last', last) : DEFAULT_PAGE_SIZE, cursor: before ?? null };
  return { direction: 'forward', size: first != null ? checkSize('first', first) : DEFAULT_PAGE_SIZE, cursor: after ?? null };
}
