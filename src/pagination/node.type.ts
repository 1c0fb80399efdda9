import { Field, ID, InterfaceType } from 'type-graphql';

/** Relay global object identification: ids are opaque and globally unique. */
@InterfaceType({ description: 'Relay global object identification: ids are opaque and globally unique.' })
export abstract class Node {
  @Field(() => ID)
  id!: string;
}
