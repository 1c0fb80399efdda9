import { Length } from 'class-validator';
import { Field, ID, InputType } from 'type-graphql';

@InputType()
export class SendMessageInput {
  @Field(() => ID)
  conversationId!: string;

  /** 1..MESSAGE_MAX_LENGTH characters after trimming: checked by the service, which knows the configured limit. */
  @Field(() => String)
  body!: string;

  @Field(() => String, { description: 'Client-chosen idempotency key: a retry with the same key returns the first message.' })
  @Length(1, 64, { message: 'clientMessageId must be 1 to 64 characters' })
  clientMessageId!: string;

  @Field(() => ID, { nullable: true, description: 'A message of the same conversation this one replies to.' })
  replyToId?: string | null;
}
