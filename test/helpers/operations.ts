import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { Kind, parse, print, visit, type DefinitionNode, type FragmentDefinitionNode, type OperationDefinitionNode } from 'graphql';

export const OPERATIONS_DIR = path.resolve(__dirname, '../../operations');

function loadDefinitions(): DefinitionNode[] {
  return readdirSync(OPERATIONS_DIR, { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.graphql'))
    .flatMap((file) => parse(readFileSync(path.join(OPERATIONS_DIR, file), 'utf8')).definitions);
}

const definitions = loadDefinitions();
const operations = new Map(
  definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION).map((d) => [d.name!.value, d]),
);
const fragments = new Map(
  definitions.filter((d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION).map((d) => [d.name.value, d]),
);

/** Names of every example operation in operations/*.graphql. */
export const operationNames = [...operations.keys()];

/** The document of one example operation from operations/*.graphql, with the fragments it uses. */
export function operation(name: string): string {
  const definition = operations.get(name);
  if (!definition) throw new Error(`operations/*.graphql has no operation named ${name}; it has ${operationNames.join(', ')}`);
  const used = new Set<string>();
  const collect = (node: DefinitionNode) =>
    visit(node, {
      FragmentSpread: ({ name: { value } }) => {
        if (used.has(value)) return;
        used.add(value);
        collect(fragments.get(value)!);
      },
    });
  collect(definition);
  return [definition, ...[...used].map((fragment) => fragments.get(fragment)!)].map((d) => print(d)).join('\n\n');
}
