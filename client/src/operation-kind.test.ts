import { classify } from './operation-kind';

describe('classify', () => {
  it('finds where conversationEvents puts its events and which variable resumes it', () => {
    expect(classify(`subscription S($id: ID!, $from: Int) { live: conversationEvents(conversationId: $id, afterSeq: $from) { seq } }`)).toEqual({
      kind: 'conversationEvents',
      key: 'live',
      afterSeqVariable: 'from',
      conversationId: { variable: 'id' },
    });
    expect(classify(`subscription { presence(conversationId: "abc") { online } }`)).toEqual({ kind: 'presence', conversationId: { literal: 'abc' } });
    expect(classify(`subscription { inboxUpdates { removed } }`)).toEqual({ kind: 'inboxUpdates' });
    expect(classify(`query { me { id } }`)).toEqual({ kind: 'other' });
  });

  it('accepts seq selected through a fragment on ConversationEvent', () => {
    const query = `subscription ($id: ID!, $after: Int) { conversationEvents(conversationId: $id, afterSeq: $after) { ...E } } fragment E on ConversationEvent { seq }`;
    expect(classify(query).kind).toBe('conversationEvents');
  });

  it('marks a conversationEvents subscription it cannot resume: afterSeq written in or absent, or seq not selected', () => {
    for (const query of [
      `subscription ($id: ID!) { conversationEvents(conversationId: $id, afterSeq: 3) { seq } }`,
      `subscription ($id: ID!) { conversationEvents(conversationId: $id) { seq } }`,
      `subscription ($id: ID!, $a: Int) { conversationEvents(conversationId: $id, afterSeq: $a) { ... on MessageAdded { seq } } }`,
    ]) {
      expect(classify(query)).toMatchObject({ kind: 'conversationEvents', afterSeqVariable: null });
    }
  });
});
