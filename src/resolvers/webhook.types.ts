import { GraphQLJSONObject } from 'graphql-scalars';
import { Field, ID, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';
import { WebhookDeliveryStatus } from '../entities/webhook-delivery.entity';
import { ConnectionType, EdgeType } from '../pagination/connection.type';

registerEnumType(WebhookDeliveryStatus, { name: 'WebhookDeliveryStatus' });

@InputType()
export class CreateWebhookEndpointInput {
  @Field(() => String, { description: 'http(s) URL the events are POSTed to; private, loopback and link-local hosts are refused (at save and at each delivery).' })
  url!: string;

  @Field(() => [String], { description: 'Any of message.created, message.edited, conversation.member_added, conversation.closed.' })
  events!: string[];

  @Field(() => String, { nullable: true })
  description?: string | null;
}

@ObjectType('WebhookEndpoint', { description: 'A receiver of outbound webhooks (Standard Webhooks). ADMIN only.' })
export class WebhookEndpointType {
  @Field(() => ID)
  id!: string;

  @Field(() => String)
  url!: string;

  @Field(() => [String])
  events!: string[];

  @Field(() => String, { nullable: true })
  description!: string | null;

  @Field(() => Boolean, { description: 'Off: no delivery is written for it, and pending ones wait.' })
  enabled!: boolean;

  @Field(() => Date, { nullable: true, description: 'Since when every attempt failed; null after a success.' })
  failingSince!: Date | null;

  @Field(() => String, { nullable: true, description: 'Why Parley disabled it (every attempt failed for WEBHOOK_DISABLE_AFTER); enabling it clears this.' })
  disabledReason!: string | null;

  @Field(() => Date, { nullable: true, description: 'Until then, deliveries also carry a signature under the secret before the last rotation.' })
  previousSecretUntil!: Date | null;

  @Field(() => Date)
  createdAt!: Date;

  @Field(() => Date)
  updatedAt!: Date;
}

@ObjectType({ description: 'An endpoint and the secret it signs with: shown here once, never again.' })
export class WebhookEndpointWithSecret {
  @Field(() => WebhookEndpointType)
  endpoint!: WebhookEndpointType;

  @Field(() => String, { description: '`whsec_…`, for any Standard Webhooks library to verify `webhook-signature` with.' })
  secret!: string;
}

@ObjectType('WebhookDelivery', { description: 'One event for one endpoint, and how its attempts went.' })
export class WebhookDeliveryType {
  @Field(() => ID)
  id!: string;

  @Field(() => String, { description: 'The `webhook-id` header of every attempt.' })
  webhookId!: string;

  @Field(() => String)
  eventType!: string;

  @Field(() => WebhookDeliveryStatus)
  status!: WebhookDeliveryStatus;

  @Field(() => Int)
  attempts!: number;

  @Field(() => Date, { description: 'When the next attempt is due (PENDING).' })
  nextAttemptAt!: Date;

  @Field(() => Int, { nullable: true, description: 'The HTTP status of the last attempt, if it got one.' })
  lastStatusCode!: number | null;

  @Field(() => String, { nullable: true })
  lastError!: string | null;

  @Field(() => GraphQLJSONObject, { description: 'The body every attempt sends.' })
  payload!: Record<string, unknown>;

  @Field(() => Date)
  createdAt!: Date;

  @Field(() => Date, { nullable: true })
  deliveredAt!: Date | null;
}

@ObjectType({ simpleResolvers: true })
export class WebhookEndpointEdge extends EdgeType(WebhookEndpointType) {}

@ObjectType({ simpleResolvers: true })
export class WebhookEndpointConnection extends ConnectionType(WebhookEndpointEdge) {}

@ObjectType({ simpleResolvers: true })
export class WebhookDeliveryEdge extends EdgeType(WebhookDeliveryType) {}

@ObjectType({ simpleResolvers: true })
export class WebhookDeliveryConnection extends ConnectionType(WebhookDeliveryEdge) {}
