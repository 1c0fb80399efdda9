import type { ClassType } from 'type-graphql';
import { Field, ObjectType } from 'type-graphql';
import { PageInfo } from './page-info.type';

/**
 * Base of `<Node>Edge` types: `@ObjectType() class MessageEdge extends EdgeType(Message) {}`. Every
 * object type declares `simpleResolvers`: Parley uses no field middleware, so type-graphql need not
 * wrap plain fields in its resolver machinery (measured in bench S1).
 */
export function EdgeType<T extends object>(node: ClassType<T>) {
  @ObjectType({ simpleResolvers: true })
  abstract class Edge {
    @Field(() => String)
    cursor!: string;

    @Field(() => node)
    node!: T;
  }
  return Edge;
}

/** Base of `<Node>Connection` types: `@ObjectType() class MessageConnection extends ConnectionType(MessageEdge) {}`. */
export function ConnectionType<E extends object>(edge: ClassType<E>) {
  @ObjectType({ simpleResolvers: true })
  abstract class Connection {
    @Field(() => [edge])
    edges!: E[];

    @Field(() => PageInfo)
    pageInfo!: PageInfo;
  }
  return Connection;
}
