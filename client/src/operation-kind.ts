import { Kind, parse, type DocumentNode, type FieldNode, type FragmentDefinitionNode, type OperationDefinitionNode, type SelectionSetNode, type ValueNode } from 'graphql';

/**
 * What the helper needs to know of a subscription document: which Parley subscription it is, where
 * its events sit in a result, and which variables carry the conversation id and the resume point.
 */
export type OperationKind =
  | {
      kind: 'conversationEvents';
      /** The root field's response key (its alias, if any): results carry events at `data[key]`. */
      key: string;
      /**
       * The variable that feeds `afterSeq`, which the helper moves forward as events arrive; null when
       * the subscription cannot be resumed: `afterSeq` is absent or written in, or `seq` is not
       * selected. Such a subscription is only live, and reconnects report it in `Refetch.conversations`.
       */
      afterSeqVariable: string | null;
      conversationId: Argument;
    }
  | { kind: 'inboxUpdates' }
  | { kind: 'presence'; conversationId: Argument }
  | { kind: 'other' };

/** An argument's value: written in the document, or read from a variable. */
export type Argument = { literal: string } | { variable: string } | null;

/** The value an argument has for given variables. */
export function argumentValue(argument: Argument, variables: Record<string, unknown> | null | undefined): string | undefined {
  if (!argument) return undefined;
  if ('literal' in argument) return argument.literal;
  const value = variables?.[argument.variable];
  return typeof value === 'string' ? value : undefined;
}

const parsed = new Map<string, DocumentNode>();

/** Parses (once per text, for the few documents an app sends) and classifies a subscription. */
export function classify(query: string | DocumentNode, operationName?: string | null): OperationKind {
  let document: DocumentNode;
  if (typeof query === 'string') {
    document = parsed.get(query) ?? parse(query);
    if (parsed.size < 100) parsed.set(query, document);
  } else {
    document = query;
  }
  const operations = document.definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
  const operation = operationName ? operations.find((o) => o.name?.value === operationName) : operations[0];
  if (!operation || operation.operation !== 'subscription') return { kind: 'other' };
  const root = operation.selectionSet.selections.find((s): s is FieldNode => s.kind === Kind.FIELD);
  if (!root) return { kind: 'other' };
  const argument = (name: string): Argument => toArgument(root.arguments?.find((a) => a.name.value === name)?.value);
  switch (root.name.value) {
    case 'conversationEvents': {
      const afterSeq = argument('afterSeq');
      const fragments = new Map(document.definitions.filter((d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION).map((d) => [d.name.value, d]));
      const resumable = afterSeq !== null && 'variable' in afterSeq && root.selectionSet !== undefined && selects(root.selectionSet, 'seq', fragments);
      return { kind: 'conversationEvents', key: root.alias?.value ?? root.name.value, afterSeqVariable: resumable ? afterSeq.variable : null, conversationId: argument('conversationId') };
    }
    case 'inboxUpdates':
      return { kind: 'inboxUpdates' };
    case 'presence':
      return { kind: 'presence', conversationId: argument('conversationId') };
    default:
      return { kind: 'other' };
  }
}

function toArgument(value: ValueNode | undefined): Argument {
  if (value?.kind === Kind.VARIABLE) return { variable: value.name.value };
  if (value?.kind === Kind.STRING) return { literal: value.value };
  return null;
}

/** Whether `field` is selected for every type: directly, or in a fragment without a narrower type condition. */
function selects(selectionSet: SelectionSetNode, field: string, fragments: Map<string, FragmentDefinitionNode>): boolean {
  return selectionSet.selections.some((selection) => {
    if (selection.kind === Kind.FIELD) return selection.name.value === field && !selection.alias;
    if (selection.kind === Kind.INLINE_FRAGMENT) return !selection.typeCondition || selection.typeCondition.name.value === 'ConversationEvent' ? selects(selection.selectionSet, field, fragments) : false;
    const fragment = fragments.get(selection.name.value);
    return fragment?.typeCondition.name.value === 'ConversationEvent' && selects(fragment.selectionSet, field, fragments);
  });
}
