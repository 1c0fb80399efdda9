import { Arg, Args, Authorized, Ctx, FieldResolver, ID, Mutation, Query, Resolver, Root } from 'type-graphql';
import type { Context } from '../context';
import { Role } from '../entities/user.entity';
import { WebhookDeliveryStatus, type WebhookDelivery } from '../entities/webhook-delivery.entity';
import { loadConnection, nodeEdge, type Connection, type Edge } from '../pagination/connection';
import type { CursorKey } from '../pagination/cursor';
import { fromGlobalIdOf, toGlobalId } from '../pagination/global-id';
import { ForwardPageArgs, toPageRequest } from '../pagination/page-args';
import { webhookIdOf } from '../webhooks/dispatcher';
import {
  createWebhookEndpoint,
  deleteWebhookEndpoint,
  listWebhookDeliveries,
  listWebhookEndpoints,
  redeliverWebhook,
  rotateWebhookSecret,
  setWebhookEndpointEnabled,
  type EndpointWithSecret,
  type WebhookEndpointRecord,
} from '../webhooks/endpoints';
import {
  CreateWebhookEndpointInput,
  WebhookDeliveryConnection,
  WebhookDeliveryType,
  WebhookEndpointConnection,
  WebhookEndpointType,
  WebhookEndpointWithSecret,
} from './webhook.types';

const endpointId = (id: string) => fromGlobalIdOf('WebhookEndpoint', id);

/** Outbound webhooks: an ADMIN's to manage. The work is in webhooks/endpoints.ts. */
@Resolver(() => WebhookEndpointType)
export class WebhookEndpointResolver {
  @Authorized(Role.ADMIN)
  @Query(() => WebhookEndpointConnection, { description: 'Registered webhook endpoints, oldest first. ADMIN only.' })
  webhookEndpoints(@Args(() => ForwardPageArgs) args: ForwardPageArgs, @Ctx() { services }: Context): Promise<Connection<Edge<WebhookEndpointRecord>>> {
    const request = toPageRequest(args);
    const load = (cursorKey: CursorKey | null) => listWebhookEndpoints(services.sql, request, cursorKey);
    return loadConnection(services.cursors, 'webhook-endpoints', request, load, nodeEdge);
  }

  @Authorized(Role.ADMIN)
  @Query(() => WebhookDeliveryConnection, { description: "An endpoint's deliveries, newest first; `status: DEAD` lists its dead letters. ADMIN only." })
  webhookDeliveries(
    @Arg('endpointId', () => ID) id: string,
    @Arg('status', () => WebhookDeliveryStatus, { nullable: true }) status: WebhookDeliveryStatus | null,
    @Args(() => ForwardPageArgs) args: ForwardPageArgs,
    @Ctx() { services }: Context,
  ): Promise<Connection<Edge<WebhookDelivery>>> {
    const request = toPageRequest(args);
    const endpoint = endpointId(id);
    const load = (cursorKey: CursorKey | null) => listWebhookDeliveries(services.sql, endpoint, status, request, cursorKey);
    return loadConnection(services.cursors, `webhook-deliveries:${endpoint}:${status ?? '*'}`, request, load, nodeEdge);
  }

  @Authorized(Role.ADMIN)
  @Mutation(() => WebhookEndpointWithSecret, { description: 'Registers an endpoint; the answer carries its signing secret, the only time it is shown. ADMIN only.' })
  createWebhookEndpoint(@Arg('input', () => CreateWebhookEndpointInput) input: CreateWebhookEndpointInput, @Ctx() { services, viewer }: Context): Promise<EndpointWithSecret> {
    return createWebhookEndpoint(services.dataSource, viewer!.id, input, services.config.webhooks.outbound.allowPrivateTargets);
  }

  @Authorized(Role.ADMIN)
  @Mutation(() => WebhookEndpointWithSecret, { description: 'A new signing secret, shown once; the old one keeps signing beside it for 24 hours. ADMIN only.' })
  rotateWebhookSecret(@Arg('id', () => ID) id: string, @Ctx() { services }: Context): Promise<EndpointWithSecret> {
    return rotateWebhookSecret(services.dataSource, endpointId(id));
  }

  @Authorized(Role.ADMIN)
  @Mutation(() => WebhookEndpointType, { description: 'Stops writing deliveries for it; pending ones wait until it is enabled again. ADMIN only.' })
  disableWebhookEndpoint(@Arg('id', () => ID) id: string, @Ctx() { services }: Context): Promise<WebhookEndpointRecord> {
    return setWebhookEndpointEnabled(services.dataSource, endpointId(id), false);
  }

  @Authorized(Role.ADMIN)
  @Mutation(() => WebhookEndpointType, { description: 'ADMIN only.' })
  enableWebhookEndpoint(@Arg('id', () => ID) id: string, @Ctx() { services }: Context): Promise<WebhookEndpointRecord> {
    return setWebhookEndpointEnabled(services.dataSource, endpointId(id), true);
  }

  @Authorized(Role.ADMIN)
  @Mutation(() => Boolean, { description: 'Deletes the endpoint and its deliveries. ADMIN only.' })
  deleteWebhookEndpoint(@Arg('id', () => ID) id: string, @Ctx() { services }: Context): Promise<boolean> {
    return deleteWebhookEndpoint(services.dataSource, endpointId(id));
  }

  @Authorized(Role.ADMIN)
  @Mutation(() => WebhookDeliveryType, {
    description: 'Sends a DEAD or DELIVERED delivery again, same webhook-id and body, with a fresh set of attempts. ADMIN only.',
  })
  async redeliver(@Arg('deliveryId', () => ID) deliveryId: string, @Ctx() { services }: Context): Promise<WebhookDelivery> {
    const delivery = await redeliverWebhook(services.dataSource, fromGlobalIdOf('WebhookDelivery', deliveryId));
    services.webhooks?.kick();
    return delivery;
  }

  @FieldResolver(() => ID)
  id(@Root() endpoint: WebhookEndpointRecord): string {
    return toGlobalId('WebhookEndpoint', endpoint.id);
  }
}

@Resolver(() => WebhookDeliveryType)
export class WebhookDeliveryResolver {
  @FieldResolver(() => ID)
  id(@Root() delivery: WebhookDelivery): string {
    return toGlobalId('WebhookDelivery', delivery.id);
  }

  @FieldResolver(() => String)
  webhookId(@Root() delivery: WebhookDelivery): string {
    return webhookIdOf(delivery.id);
  }
}
