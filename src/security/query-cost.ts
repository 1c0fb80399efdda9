import {
  getArgumentValues,
  getNamedType,
  getNullableType,
  getOperationAST,
  getVariableValues,
  isAbstractType,
  isCompositeType,
  isListType,
  Kind,
  type DirectiveNode,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLCompositeType,
  type GraphQLField,
  type GraphQLObjectType,
  type GraphQLSchema,
  type SelectionSetNode,
  type VariableDefinitionNode,
} from 'graphql';
import { AppError, ErrorCode } from '../errors';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from '../pagination/page-args';

/**
 * How many items a list field without `first`/`last` can hold, declared on the field with
 * `@Extensions(listSize(…))`: a number, or a function of the field's arguments (called with
 * `undefined` for the worst case). Every list field of the schema is either a connection's `edges`,
 * paged itself, or declares this; `query-cost.test.ts` checks it.
 */
export type ListSize = number | ((args: Record<string, unknown> | undefined) => number);
export const listSize = (size: ListSize) => ({ cost: { listSize: size } });

type Variables = Record<string, unknown>;
interface Evaluation {
  /** The request's coerced variable values. */
  variables: Variables;
  /** Every variable page size at its most, whatever the variables say. */
  worst: boolean;
  /** Costs already computed in this evaluation, by plan and enclosing page size. */
  memo: Map<string, number>;
}
/** The cost of a selection; `enclosing`: the page size of the connection it belongs to (NaN: none). */
type Plan = (evaluation: Evaluation, enclosing: number) => number;

const zero: Plan = () => 0;
const one: Plan = () => 1;

interface Compiled {
  plan: Plan;
  variables: readonly VariableDefinitionNode[];
}

/** The refusal of `QueryCost.check`: names the computed cost and the limit. */
function tooCostly(cost: number, limit: number): AppError {
  return new AppError(
    ErrorCode.QUERY_TOO_COMPLEX,
    `This operation costs ${cost}, over the limit of ${limit}: its answer can hold ${cost} objects, each page size multiplying what is below it. Ask for smaller pages (first/last) or fewer nested lists.`,
    { cost, limit },
    400,
  );
}

/**
 * Parley's query cost, one model for HTTP and WebSocket, computed once variable values are known and
 * before any resolver runs (in the spirit of GitHub's node limit): the cost of an operation is the
 * number of objects its answer can hold. Every field that returns an object counts once for each
 * place it can appear; a connection's `first`/`last` (default 20, at most 100) sizes its `edges`,
 * so it multiplies everything below it; other lists count their declared size (`listSize`).
 * Scalars, `__typename` and introspection are free. A literal `@skip(if: true)`/`@include(if: false)`
 * removes what it marks; one that depends on a variable is counted.
 *
 * A document is compiled once into a plan, cached with the parsed document (which Apollo Server and
 * ws-admission both reuse): per request, the work is one pass over its distinct object fields.
 */
export function createQueryCost(schema: GraphQLSchema, limit: number) {
  const compiled = new WeakMap<DocumentNode, Map<string | null, Compiled | null>>();

  const compiledOf = (document: DocumentNode, operationName: string | null | undefined): Compiled | null => {
    let byName = compiled.get(document);
    if (!byName) compiled.set(document, (byName = new Map()));
    const key = operationName ?? null;
    let entry = byName.get(key);
    if (entry === undefined) {
      const operation = getOperationAST(document, operationName);
      const root = operation && schema.getRootType(operation.operation);
      entry = operation && root ? { plan: compileOperation(schema, document, operation.selectionSet, root), variables: operation.variableDefinitions ?? [] } : null;
      byName.set(key, entry);
    }
    return entry;
  };
  const evaluate = (plan: Plan, variables: Variables, worst: boolean) => plan({ variables, worst, memo: new Map() }, NaN);

  const cost = (document: DocumentNode, operationName: string | null | undefined, rawVariables: Variables | undefined): number | undefined => {
    const entry = compiledOf(document, operationName);
    if (!entry) return undefined;
    if (entry.variables.length === 0) return evaluate(entry.plan, {}, false);
    const coerced = getVariableValues(schema, entry.variables, rawVariables ?? {}, { maxErrors: 1 });
    return coerced.errors ? undefined : evaluate(entry.plan, coerced.coerced, false);
  };

  return {
    limit,
    /**
     * The cost of one request, or undefined when its variables do not coerce (execution then refuses
     * them with BAD_USER_INPUT before any resolver runs).
     */
    cost,
    /** The most an operation can cost, whatever its variables: each variable page size at 100. */
    worstCase(document: DocumentNode, operationName: string | null | undefined): number {
      const entry = compiledOf(document, operationName);
      return entry ? evaluate(entry.plan, {}, true) : 0;
    },
    /** QUERY_TOO_COMPLEX when the request costs more than the limit, else null. */
    check(document: DocumentNode, operationName: string | null | undefined, rawVariables: Variables | undefined): AppError | null {
      const computed = cost(document, operationName, rawVariables);
      return computed !== undefined && computed > limit ? tooCostly(computed, limit) : null;
    },
  };
}

export type QueryCost = ReturnType<typeof createQueryCost>;

interface Compilation {
  schema: GraphQLSchema;
  fragments: Map<string, FragmentDefinitionNode>;
  /** Plans by the selection sets they merge and their parent type: a fragment spread many times compiles once. */
  plans: Map<string, Plan>;
  ids: Map<SelectionSetNode, number>;
}

function sum(parts: Plan[]): Plan {
  const costly = parts.filter((part) => part !== zero);
  if (costly.length === 0) return zero;
  if (costly.length === 1) return costly[0];
  return (evaluation, enclosing) => {
    let total = 0;
    for (const part of costly) total += part(evaluation, enclosing);
    return total;
  };
}

/** The occurrences of one response key, merged by execution into one field. */
type FieldGroup = FieldNode[];

function compileOperation(schema: GraphQLSchema, document: DocumentNode, selectionSet: SelectionSetNode, root: GraphQLObjectType): Plan {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  return compileSelectionSets({ schema, fragments, plans: new Map(), ids: new Map() }, [selectionSet], root);
}

/**
 * The plan of the merged selection sets of one field. On an abstract type, the most any of its
 * object types could cost. Its value is remembered per evaluation, so a plan reached along many
 * paths is computed once per request.
 */
function compileSelectionSets(compilation: Compilation, selectionSets: SelectionSetNode[], parentType: GraphQLCompositeType): Plan {
  const key = `${parentType.name}:${selectionSets.map((set) => idOf(compilation, set)).join(',')}`;
  const known = compilation.plans.get(key);
  if (known) return known;
  compilation.plans.set(key, zero); // cycles are refused by validation first; this keeps compilation finite
  const types = isAbstractType(parentType) ? compilation.schema.getPossibleTypes(parentType) : [parentType];
  const perType = types.map((type) => sum([...collectFields(compilation, selectionSets, type).values()].map((group) => compileGroup(compilation, group, type))));
  const costly = perType.filter((plan) => plan !== zero);
  let plan: Plan = zero;
  if (costly.length === 1) plan = costly[0];
  else if (costly.length > 1) plan = (evaluation, enclosing) => Math.max(...costly.map((p) => p(evaluation, enclosing)));
  if (plan !== zero) {
    const inner = plan;
    plan = (evaluation, enclosing) => {
      const memo = `${key}@${enclosing}`;
      let value = evaluation.memo.get(memo);
      if (value === undefined) evaluation.memo.set(memo, (value = inner(evaluation, enclosing)));
      return value;
    };
  }
  compilation.plans.set(key, plan);
  return plan;
}

function idOf(compilation: Compilation, set: SelectionSetNode): number {
  let id = compilation.ids.get(set);
  if (id === undefined) compilation.ids.set(set, (id = compilation.ids.size));
  return id;
}

/** graphql-js's field collection for one object type: fragments that apply, each spread once, fields grouped by response key. */
function collectFields(compilation: Compilation, selectionSets: SelectionSetNode[], type: GraphQLObjectType): Map<string, FieldGroup> {
  const groups = new Map<string, FieldGroup>();
  const visited = new Set<string>();
  const visit = (selectionSet: SelectionSetNode) => {
    for (const selection of selectionSet.selections) {
      if (!included(selection.directives ?? [])) continue;
      if (selection.kind === Kind.FIELD) {
        const key = selection.alias?.value ?? selection.name.value;
        const group = groups.get(key);
        if (group) group.push(selection);
        else groups.set(key, [selection]);
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        if (applies(compilation.schema, selection.typeCondition?.name.value, type)) visit(selection.selectionSet);
      } else {
        const name = selection.name.value;
        const fragment = compilation.fragments.get(name);
        if (visited.has(name) || !fragment || !applies(compilation.schema, fragment.typeCondition.name.value, type)) continue;
        visited.add(name);
        visit(fragment.selectionSet);
      }
    }
  };
  for (const selectionSet of selectionSets) visit(selectionSet);
  return groups;
}

function applies(schema: GraphQLSchema, typeCondition: string | undefined, type: GraphQLObjectType): boolean {
  if (!typeCondition || typeCondition === type.name) return true;
  const conditionType = schema.getType(typeCondition);
  return isAbstractType(conditionType) && schema.isSubType(conditionType, type);
}

function compileGroup(compilation: Compilation, nodes: FieldGroup, parentType: GraphQLObjectType): Plan {
  const node = nodes[0];
  if (node.name.value.startsWith('__')) return zero;
  const field = parentType.getFields()[node.name.value];
  if (!field) return zero;
  const named = getNamedType(field.type);
  if (!isCompositeType(named)) return zero;
  const selectionSets = nodes.flatMap((n) => (n.selectionSet ? [n.selectionSet] : []));
  const children = compileSelectionSets(compilation, selectionSets, named);
  const paged = field.args.some((a) => a.name === 'first' || a.name === 'last') ? pageSizeOf(node) : null;
  const list = isListType(getNullableType(field.type));
  if (paged) {
    // A connection: its page size sizes the lists right below it (`edges`).
    return (evaluation) => {
      const size = paged(evaluation);
      return (list ? size : 1) * (1 + children(evaluation, size));
    };
  }
  if (list) {
    const declared = declaredSize(field, node);
    return (evaluation, enclosing) => (Number.isNaN(enclosing) ? declared(evaluation) : enclosing) * (1 + children(evaluation, NaN));
  }
  return children === zero ? one : (evaluation) => 1 + children(evaluation, NaN);
}

/**
 * `first`/`last` of a paged field as the resolvers read them: a literal as written, a variable as
 * sent (its default when absent), 20 when absent or null, clamped to 0..100. Read from the argument
 * nodes, not through the field's whole argument list: another argument's variable must not make a
 * written-in page size unreadable.
 */
function pageSizeOf(node: FieldNode): (evaluation: Evaluation) => number {
  const values = ['first', 'last'].map((name) => node.arguments?.find((a) => a.name.value === name)?.value).filter((v) => v !== undefined);
  const byVariable = values.some((v) => v.kind === Kind.VARIABLE);
  const sized = (variables: Variables) => {
    let size: number | undefined;
    for (const value of values) {
      const given = value.kind === Kind.INT ? Number(value.value) : value.kind === Kind.VARIABLE ? variables[value.name.value] : undefined;
      if (typeof given === 'number') size = Math.max(size ?? given, given);
    }
    // Outside 1..100 the resolver refuses with BAD_USER_INPUT, which says more than a cost would.
    return Math.min(Math.max(size ?? DEFAULT_PAGE_SIZE, 0), MAX_PAGE_SIZE);
  };
  if (!byVariable) {
    const size = sized({});
    return () => size;
  }
  return ({ variables, worst }) => (worst ? MAX_PAGE_SIZE : sized(variables));
}

function declaredSize(field: GraphQLField<unknown, unknown>, node: FieldNode): (evaluation: Evaluation) => number {
  const declared = (field.extensions as { cost?: { listSize?: ListSize } } | undefined)?.cost?.listSize;
  if (typeof declared === 'number') return () => declared;
  if (typeof declared === 'function') {
    return ({ variables, worst }) => {
      if (worst) return declared(undefined);
      try {
        return declared(getArgumentValues(field, node, variables));
      } catch {
        return declared(undefined);
      }
    };
  }
  // An undeclared list is counted as a full page: a cost is an upper bound.
  return () => MAX_PAGE_SIZE;
}

/**
 * Whether a selection can be part of the answer: false only when a literal `@skip(if: true)` or
 * `@include(if: false)` removes it. One that depends on a variable is counted, as graphql-js may
 * collect its fields through another spread: a cost is an upper bound.
 */
function included(directives: readonly DirectiveNode[]): boolean {
  for (const directive of directives) {
    const skip = directive.name.value === 'skip';
    if (!skip && directive.name.value !== 'include') continue;
    const value = directive.arguments?.find((a) => a.name.value === 'if')?.value;
    if (value?.kind === Kind.BOOLEAN && value.value === skip) return false;
  }
  return true;
}
