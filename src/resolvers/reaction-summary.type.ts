import { Extensions, Field, Int, ObjectType } from 'type-graphql';
import { viewerDependent } from '../subscriptions/shared-execution';

@ObjectType({ simpleResolvers: true })
export class ReactionSummary {
  @Field(() => String)
  emoji!: string;

  @Field(() => Int)
  count!: number;

  @Extensions(viewerDependent)
  @Field(() => Boolean)
  viewerHasReacted!: boolean;
}
