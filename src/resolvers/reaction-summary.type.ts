import { Field, Int, ObjectType } from 'type-graphql';

@ObjectType()
export class ReactionSummary {
  @Field(() => String)
  emoji!: string;

  @Field(() => Int)
  count!: number;

  @Field(() => Boolean)
  viewerHasReacted!: boolean;
}
