import type { ClassType } from 'type-graphql';
import { Field, ObjectType } from 'type-graphql';
import { PageInfo } from './page-info.type';

/** Base of `<Node>Edge` types: `@ObjectType() class MessageEdge extends EdgeType(Message) {}`. */
export function EdgeType<T extends object>(node: ClassType<T>) {
  @ObjectType()
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
  @ObjectType()
  abstract class Connection {
    @Field(() => [edge])
    edges!: E[];

    @Field(() => PageInfo)
    pageInfo!: PageInfo;
  }
  return Connection;
}
