import 'reflect-metadata';
import { getNamedType, getNullableType, isListType, isObjectType, parse, type GraphQLSchema } from 'graphql';
import { buildParleySchema } from '../schema';
import { createInProcessBus } from '../events/bus';
import { createStringTable } from '../events/strings';
import { createQueryCost, type QueryCost } from './query-cost';

let schema: GraphQLSchema;
let queryCost: QueryCost;
beforeAll(async () => {
  schema = await buildParleySchema({ pubSub: createInProcessBus(createStringTable()) });
  queryCost = createQueryCost(schema, 10_000);
});

const cost = (query: string, variables?: Record<string, unknown>) => queryCost.cost(parse(query), undefined, variables);

/** The inbox a chat client shows: conversations, a few members, the latest messages with authors and reactions. */
const inbox = (sizes: { conversations: string; members: string; messages: string }) => `
  query Inbox($c: Int, $m: Int, $n: Int) {
    conversations(first: ${sizes.conversations}) {
      edges { cursor node { id title unreadCount lastMessage { id body author { handle } }
        members(first: ${sizes.members}) { totalCount edges { role node { id handle online } } }
        messages(last: ${sizes.messages}) { pageInfo { hasPreviousPage startCursor }
          edges { cursor node { id seq body author { id handle } reactions { emoji count viewerHasReacted } } } } } }
      pageInfo { hasNextPage endCursor }
    }
  }`;

describe('query cost', () => {
  it('counts the objects an answer can hold, each page size multiplying what is below it', () => {
    // 1 connection + 1 pageInfo + 3 edges + 3 nodes
    expect(cost('{ conversations(first: 3) { pageInfo { hasNextPage } edges { cursor node { id } } } }')).toBe(8);
    // the same, 2 messages each (1 connection + 2 edges + 2 nodes + 2 authors per conversation)
    expect(cost('{ conversations(first: 3) { edges { node { messages(first: 2) { edges { node { author { id } } } } } } } }')).toBe(1 + 3 * (1 + 1 + 1 + 2 * 3));
    expect(cost('{ me { id handle } }')).toBe(1);
    expect(cost('{ __typename }')).toBe(0);
  });

  it('gives a query the same cost whether its page sizes are literals or variables', () => {
    const literal = cost(inbox({ conversations: '20', members: '5', messages: '50' }));
    const variables = cost(inbox({ conversations: '$c', members: '$m', messages: '$n' }), { c: 20, m: 5, n: 50 });
    expect(variables).toBe(literal);
    // Absent and null page sizes are the default page, 20, as the resolvers read them.
    expect(cost(inbox({ conversations: '$c', members: '$m', messages: '$n' }), { c: null })).toBe(cost(inbox({ conversations: '20', members: '20', messages: '20' })));
  });

  it('accepts the natural inbox and a history page of 100, and refuses 100 conversations × 100 messages × reactions', () => {
    expect(cost(inbox({ conversations: '20', members: '5', messages: '50' }))).toBeLessThanOrEqual(10_000);
    const history = `query ($id: ID!, $n: Int) { conversation(id: $id) { messages(last: $n) { edges { node { id body author { handle } reactions { emoji count } } } } } }`;
    expect(cost(history, { id: 'x', n: 100 })).toBeLessThanOrEqual(10_000);
    const huge = `query ($c: Int, $n: Int) { conversations(first: $c) { edges { node { messages(first: $n) { edges { node { reactions { emoji } } } } } } } }`;
    const check = queryCost.check(parse(huge), undefined, { c: 100, n: 100 });
    expect(check?.extensions).toMatchObject({ code: 'QUERY_TOO_COMPLEX', cost: 1 + 100 * 2 + 100 * (1 + 100 * 2 + 100 * 5), limit: 10_000 });
    expect(check?.message).toContain('costs 70301, over the limit of 10000');
  });

  it('leaves out what a literal @skip or @include removes, and counts what a variable decides', () => {
    const query = `query ($more: Boolean!) { conversations(first: 10) { edges { node { id } } } me @include(if: $more) { id } you: me @skip(if: true) { id } }`;
    expect(cost(query, { more: false })).toBe(22);
    expect(cost(query, { more: true })).toBe(22);
    // graphql-js collects a fragment through any spread that is included: a conditional one must not hide it.
    const spreads = `query ($no: Boolean!) { ...F @include(if: $no) ...F } fragment F on Query { conversations(first: 100) { edges { node { id } } } }`;
    expect(cost(spreads, { no: false })).toBe(201);
  });

  it('reads a written-in page size whatever the field’s other arguments are', () => {
    const search = (query: string) => `query ($q: String!) { searchMessages(query: ${query}, first: 100) { edges { node { id messages: conversation { messages(first: 60) { edges { node { id } } } } } } } }`;
    expect(cost(search('$q'), { q: 'x' })).toBe(cost(search('"x"'), { q: 'x' }));
    expect(cost(search('$q'), { q: 'x' })).toBe(1 + 100 * (1 + 1 + 1 + 1 + 60 * 2));
  });

  it('costs the worst case of an operation whatever its variables, for trusted manifests', () => {
    const query = parse(`query ($c: Int) { conversations(first: $c) { edges { node { members(first: 5) { edges { node { id } } } } } } }`);
    expect(queryCost.worstCase(query, undefined)).toBe(1 + 100 * (2 + 1 + 5 * 2));
  });

  it('computes the cost of fragments spreading each other twice over in linear time', () => {
    const fragments = ['fragment F0 on Query { me { id } conversations(first: 100) { edges { node { id } } } }'];
    for (let i = 1; i < 200; i++) fragments.push(`fragment F${i} on Query { ...F${i - 1} ...F${i - 1} }`);
    const value = cost(`{ ...F199 }\n${fragments.join('\n')}`);
    expect(value).toBe(202);
  });

  it('counts what execution merges once: a field repeated across fragments is one field, an alias another', () => {
    const base = cost('{ conversations(first: 10) { edges { node { lastMessage { author { id } } } } } }');
    const merged = cost(`{ conversations(first: 10) { edges { node { ...A ...B lastMessage { id } } } } }
      fragment A on Conversation { lastMessage { author { id } } }
      fragment B on Conversation { lastMessage { author { handle } } }`);
    expect(merged).toBe(base);
    expect(cost('{ a: me { id } b: me { id } }')).toBe(2);
  });

  it('costs an abstract selection as the costliest of its object types', () => {
    const query = `subscription ($id: ID!) { conversationEvents(conversationId: $id) { seq
      ... on MessageAdded { message { id author { id } } }
      ... on ReactionChanged { message { id } user { id } } } }`;
    // 1 event + (message + author) or (message + user)
    expect(cost(query, { id: 'x' })).toBe(3);
  });

  it('computes the cost of a document whose paths multiply (2^30 of them) without walking each', () => {
    const fragments = ['fragment C0 on Conversation { id }'];
    for (let i = 1; i <= 30; i++) fragments.push(`fragment C${i} on Conversation { lastMessage { a: conversation { ...C${i - 1} } b: conversation { ...C${i - 1} } } }`);
    let expected = 0;
    for (let i = 1; i <= 30; i++) expected = 1 + 2 * (1 + expected);
    expect(cost(`query ($id: ID!) { conversation(id: $id) { ...C30 } }\n${fragments.join('\n')}`, { id: 'x' })).toBe(1 + expected);
  });

  it('is declared for every list of objects that is not a connection’s edges or paged itself', () => {
    const undeclared: string[] = [];
    for (const type of Object.values(schema.getTypeMap())) {
      if (!isObjectType(type) || type.name.startsWith('__')) continue;
      for (const field of Object.values(type.getFields())) {
        if (!isListType(getNullableType(field.type)) || !isObjectType(getNamedType(field.type))) continue;
        const paged = field.args.some((a) => a.name === 'first' || a.name === 'last');
        const edges = field.name === 'edges' && type.name.endsWith('Connection');
        if (!paged && !edges && !(field.extensions as { cost?: unknown }).cost) undeclared.push(`${type.name}.${field.name}`);
      }
    }
    expect(undeclared).toEqual([]);
  });
});
