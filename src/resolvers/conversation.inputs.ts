import { ArrayMaxSize, IsOptional, MaxLength } from 'class-validator';
import { Field, ID, InputType } from 'type-graphql';
import { ConversationKind } from '../entities/conversation.entity';

@InputType()
export class CreateConversationInput {
  @Field(() => ConversationKind)
  kind!: ConversationKind;

  @Field(() => String, { nullable: true })
  @IsOptional()
  @MaxLength(200, { message: 'title must be at most 200 characters' })
  title?: string | null;

  @Field(() => [ID], { description: 'Other members; the creator is added as OWNER.' })
  @ArrayMaxSize(99, { message: 'memberIds can name at most 99 other members' })
  memberIds!: string[];
}
