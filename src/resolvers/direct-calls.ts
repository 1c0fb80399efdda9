import { getMetadataStorage as validationMetadata } from 'class-validator';
import { isObjectType, type GraphQLFieldResolver, type GraphQLSchema } from 'graphql';
import { getMetadataStorage, type ClassType } from 'type-graphql';

/** The parts of type-graphql's metadata of a resolver method that decide how it is called. */
interface MethodMetadata {
  target: ClassType;
  methodName: string;
  schemaName: string;
  params?: ParamMetadata[];
  roles?: unknown[];
  middlewares?: unknown[];
}

type ParamMetadata =
  | { kind: 'root'; index: number; propertyName?: string; getType?: unknown }
  | { kind: 'context'; index: number; propertyName?: string }
  | { kind: 'info'; index: number }
  | { kind: 'arg'; index: number; name: string; getType: () => unknown; validateFn?: unknown; validateSettings?: unknown }
  | { kind: 'args'; index: number; getType: () => unknown; validateFn?: unknown; validateSettings?: unknown }
  | { kind: 'custom' | 'pubSub'; index: number };

type Read = (root: unknown, args: Record<string, unknown>, context: unknown, info: unknown) => unknown;

/**
 * Calls resolver methods directly. For every field, type-graphql's generic resolver builds a
 * resolver-data object, sorts the method's parameter list, converts and validates arguments (an
 * async step with a dynamic `import` even when there is nothing to validate) and runs the
 * middleware chain: per field of every answer. Where none of that can change the outcome — no
 * `@Authorized`, no middleware, parameters that are the root, the context, the info, scalar
 * arguments, or an `@ArgsType` of scalars without validation rules — the field's resolver becomes a
 * plain call of the method with the same parameters, which returns synchronously when the method
 * does. Every other field keeps type-graphql's resolver.
 */
export function callResolversDirectly(schema: GraphQLSchema): void {
  const storage = getMetadataStorage() as unknown as {
    fieldResolvers: (MethodMetadata & { getObjectType?: () => ClassType })[];
    queries: MethodMetadata[];
    objectTypes: { target: ClassType; name: string }[];
    argumentTypes: { target: ClassType; fields: { name: string; getType: () => unknown }[] }[];
    inputTypes: { target: ClassType }[];
  };
  const typeNames = new Map(storage.objectTypes.map((type) => [type.target, type.name]));
  const instances = new Map<ClassType, Record<string, (...params: unknown[]) => unknown>>();
  const bind = (typeName: string | undefined, method: MethodMetadata) => {
    const type = typeName ? schema.getType(typeName) : undefined;
    const field = type && isObjectType(type) ? type.getFields()[method.schemaName] : undefined;
    if (!field?.resolve || method.roles !== undefined || (method.middlewares?.length ?? 0) > 0) return;
    const reads = [...(method.params ?? [])].sort((a, b) => a.index - b.index).map((param) => readerOf(param, storage));
    if (reads.some((read) => read === null)) return;
    let instance = instances.get(method.target);
    if (!instance) instances.set(method.target, (instance = new (method.target as new () => Record<string, (...params: unknown[]) => unknown>)()));
    field.resolve = directCall(instance, method.methodName, reads as Read[]);
  };
  for (const resolver of storage.fieldResolvers) bind(resolver.getObjectType && typeNames.get(resolver.getObjectType()), resolver);
  for (const query of storage.queries) bind(schema.getQueryType()?.name, query);
}

function directCall(instance: Record<string, (...params: unknown[]) => unknown>, methodName: string, reads: Read[]): GraphQLFieldResolver<unknown, unknown> {
  const method = instance[methodName];
  // The one- and two-parameter shapes (root; root and context) are most fields: no array per call.
  if (reads.length === 1) {
    const [first] = reads;
    return (root, args, context, info) => method.call(instance, first(root, args, context, info));
  }
  if (reads.length === 2) {
    const [first, second] = reads;
    return (root, args, context, info) => method.call(instance, first(root, args, context, info), second(root, args, context, info));
  }
  return (root, args, context, info) => method.apply(instance, reads.map((read) => read(root, args, context, info)));
}

/** How a parameter gets its value, as type-graphql would give it; null when only type-graphql can. */
function readerOf(
  param: ParamMetadata,
  storage: { argumentTypes: { target: ClassType; fields: { name: string; getType: () => unknown }[] }[]; inputTypes: { target: ClassType }[] },
): Read | null {
  const isInput = (type: unknown) => storage.inputTypes.some((input) => input.target === type);
  switch (param.kind) {
    case 'root':
      if (param.getType) return null; // type-graphql converts such a root to an instance of that type
      return param.propertyName ? (root) => (root as Record<string, unknown>)[param.propertyName!] : (root) => root;
    case 'context':
      return param.propertyName ? (_root, _args, context) => (context as Record<string, unknown>)[param.propertyName!] : (_root, _args, context) => context;
    case 'info':
      return (_root, _args, _context, info) => info;
    case 'arg': {
      // A scalar or enum argument is passed as graphql-js coerced it, and is never validated (not an object).
      if (param.validateFn || isInput(param.getType())) return null;
      return (_root, args) => args[param.name];
    }
    case 'args': {
      const ArgsClass = param.getType() as ClassType;
      const argsType = storage.argumentTypes.find((type) => type.target === ArgsClass);
      if (!argsType || Object.getPrototypeOf(ArgsClass) !== Function.prototype || param.validateFn) return null;
      if (argsType.fields.some((field) => isInput(field.getType()))) return null;
      // Validating an instance without rules changes nothing.
      if (param.validateSettings !== false && validationMetadata().getTargetValidationMetadatas(ArgsClass, '', true, false).length > 0) return null;
      const names = argsType.fields.map((field) => field.name);
      return (_root, args) => {
        const instance = new ArgsClass() as Record<string, unknown>;
        for (const name of names) if (args[name] !== undefined) instance[name] = args[name];
        return instance;
      };
    }
    default:
      return null;
  }
}
