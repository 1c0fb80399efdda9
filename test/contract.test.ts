import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import {
  buildSchema,
  isEnumType,
  isInputObjectType,
  isInterfaceType,
  isObjectType,
  type GraphQLNamedType,
  parse,
  validate,
  type GraphQLSchema,
} from 'graphql';
import { operation, operationNames } from './helpers/operations';

const contractPath = path.resolve(__dirname, '../../shared/schema-contract.graphql');
const schemaPath = path.resolve(__dirname, '../schema.graphql');

/**
 * Contract items that must already be served, by the issue that delivered them. Everything else in
 * the contract may still be missing, but whatever Parley does serve must match the contract exactly.
 */
const REQUIRED_TYPES = [
  // foundation
  ...['DateTime', 'Node', 'PageInfo', 'Role', 'User', 'AuthPayload', 'SignUpInput', 'SignInInput'],
  // read API
  ...['UserEdge', 'UserConnection', 'Conversation', 'ConversationKind', 'ConversationStatus', 'MemberRole', 'MemberEdge', 'MemberConnection'],
  ...['ConversationEdge', 'ConversationConnection', 'ReactionSummary', 'Message', 'MessageEdge', 'MessageConnection'],
  // real-time chat
  ...['CreateConversationInput', 'SendMessageInput', 'ConversationEvent', 'MessageAdded', 'MessageEdited', 'MessageDeleted', 'ReactionChanged'],
  ...['MemberJoined', 'MemberLeft', 'ConversationStatusChanged', 'ReadReceipt', 'TypingChanged', 'ResyncRequired', 'InboxUpdate', 'PresenceEvent'],
  // jobs and live metrics
  ...['MetricsSnapshot', 'MetricsSample'],
];
const REQUIRED_FIELDS = [
  ...['Query.me', 'Mutation.signUp', 'Mutation.signIn'],
  ...['Query.node', 'Query.user', 'Query.users', 'Query.conversation', 'Query.conversations', 'Query.searchMessages'],
  ...['createConversation', 'addMember', 'removeMember', 'leaveConversation', 'closeConversation', 'reopenConversation'].map((m) => `Mutation.${m}`),
  ...['sendMessage', 'editMessage', 'deleteMessage', 'addReaction', 'removeReaction', 'markRead', 'setTyping'].map((m) => `Mutation.${m}`),
  ...['Subscription.conversationEvents', 'Subscription.inboxUpdates', 'Subscription.presence'],
  ...['Query.metrics', 'Query.metricsHistory', 'Subscription.metrics'],
];

/** Every member of a type as `name(args): Type` strings, keyed by name. */
function members(type: GraphQLNamedType): Map<string, string> {
  if (isObjectType(type) || isInterfaceType(type)) {
    return new Map(
      Object.values(type.getFields()).map((f) => {
        // Argument order carries no meaning in GraphQL (they are passed by name), so compare sorted.
        const args = [...f.args].sort((a, b) => a.name.localeCompare(b.name)).map((a) => `${a.name}: ${a.type}${a.defaultValue !== undefined ? ` = ${JSON.stringify(a.defaultValue)}` : ''}`);
        return [f.name, `${f.name}${args.length ? `(${args.join(', ')})` : ''}: ${f.type}`];
      }),
    );
  }
  if (isInputObjectType(type)) return new Map(Object.values(type.getFields()).map((f) => [f.name, `${f.name}: ${f.type}`]));
  if (isEnumType(type)) return new Map(type.getValues().map((v) => [v.name, v.name]));
  return new Map();
}

function interfaces(type: GraphQLNamedType): string[] {
  return isObjectType(type) || isInterfaceType(type) ? type.getInterfaces().map((i) => i.name).sort() : [];
}

// Outside the shared workspace there is no contract to read; CI sets REQUIRE_CONTRACT=1 so that a
// missing contract fails instead of skipping, as the browser and nginx tests do.
if (!existsSync(contractPath) && process.env.REQUIRE_CONTRACT === '1') throw new Error(`REQUIRE_CONTRACT=1 but there is no contract at ${contractPath}`);

(existsSync(contractPath) ? describe : describe.skip)('schema.graphql against ../shared/schema-contract.graphql', () => {
  let contract: GraphQLSchema;
  let ours: GraphQLSchema;
  beforeAll(() => {
    contract = buildSchema(readFileSync(contractPath, 'utf8'));
    ours = buildSchema(readFileSync(schemaPath, 'utf8'));
  });

  it('serves every contract item delivered so far', () => {
    const missing = [
      ...REQUIRED_TYPES.filter((name) => !ours.getType(name)),
      ...REQUIRED_TYPES.flatMap((name) => [...members(contract.getType(name)!).keys()].filter((m) => !members(ours.getType(name)!).has(m)).map((m) => `${name}.${m}`)),
      ...REQUIRED_FIELDS.filter((ref) => {
        const [type, field] = ref.split('.');
        return !members(ours.getType(type)!).has(field);
      }),
    ];
    expect(missing).toEqual([]);
  });

  it('matches the contract exactly wherever it serves a contract item', () => {
    const differences: string[] = [];
    for (const type of Object.values(contract.getTypeMap())) {
      if (type.name.startsWith('__')) continue;
      const mine = ours.getType(type.name);
      if (!mine) continue;
      if (mine.constructor !== type.constructor) differences.push(`${type.name} is a ${mine.constructor.name}, contract says ${type.constructor.name}`);
      const missingInterfaces = interfaces(type).filter((i) => !interfaces(mine).includes(i));
      if (missingInterfaces.length) differences.push(`${type.name} does not implement ${missingInterfaces.join(', ')}`);
      const ourMembers = members(mine);
      for (const [name, signature] of members(type)) {
        const our = ourMembers.get(name);
        if (our !== undefined && our !== signature) differences.push(`${type.name}: ours "${our}", contract "${signature}"`);
      }
    }
    expect(differences).toEqual([]);
  });
});

describe('operations/*.graphql', () => {
  it('are valid against schema.graphql, so the README, the tests and the manifest use documents that run', () => {
    const schema = buildSchema(readFileSync(schemaPath, 'utf8'));
    const invalid = operationNames.flatMap((name) => validate(schema, parse(operation(name))).map((e) => `${name}: ${e.message}`));
    expect(invalid).toEqual([]);
    expect(operationNames.length).toBeGreaterThan(20);
  });
});

if (!existsSync(contractPath)) {
  console.warn(`contract test skipped: ${contractPath} not found (it lives in the shared folder beside this repository)`);
}
