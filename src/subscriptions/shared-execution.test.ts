import { buildSchema, parse } from 'graphql';
import { shareKey } from './shared-execution';

const schema = buildSchema(`
  type Query { noop: Boolean }
  type User { id: ID! handle: String! email: String }
  type Event { user: User! note(lang: String): String }
  type Subscription { events(room: ID!, after: Int): Event! }
`);
// buildSchema cannot declare extensions: mark User.email as type-graphql's @Extensions would.
(schema.getType('User') as unknown as { getFields(): Record<string, { extensions: object }> }).getFields().email.extensions = { viewerDependent: true };

const key = (query: string, variables: Record<string, unknown> = {}) => shareKey(schema, parse(query), undefined, variables);

describe('shareKey', () => {
  it('ignores the root field’s arguments, which only choose the source stream', () => {
    const document = 'subscription ($room: ID!, $after: Int) { events(room: $room, after: $after) { user { handle } } }';
    expect(key(document, { room: 'a', after: 1 })).toBe(key(document, { room: 'b', after: 9 }));
  });

  it('tells apart variables used below the root field', () => {
    const document = 'subscription ($room: ID!, $lang: String) { events(room: $room) { note(lang: $lang) } }';
    expect(key(document, { room: 'a', lang: 'en' })).not.toBe(key(document, { room: 'a', lang: 'fr' }));
  });

  it('refuses to share a document with a viewer-dependent field, even in a fragment', () => {
    expect(key('subscription { events(room: "a") { ...U } } fragment U on Event { user { email } }')).toBeNull();
    expect(key('subscription { events(room: "a") { user { handle } } }')).not.toBeNull();
  });
});
