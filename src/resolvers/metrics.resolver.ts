import { Arg, Authorized, Ctx, Extensions, Field, Float, Int, ObjectType, Query, Resolver, Root, Subscription } from 'type-graphql';
import { viewerIndependent } from '../subscriptions/shared-execution';
import type { Context } from '../context';
import { MetricSample } from '../entities/metric-sample.entity';
import { Role } from '../entities/user.entity';
import { BadUserInputError } from '../errors';
import type { MetricsSnapshot as Snapshot } from '../subscriptions/metrics-stream';
import { listSize } from '../security/query-cost';
import { subscribeWith } from './subscribe';

@ObjectType({ simpleResolvers: true })
export class MetricsSnapshot implements Snapshot {
  @Field(() => Date)
  at!: Date;

  @Field(() => Int, { description: 'Instances that reported within the last few seconds.' })
  instances!: number;

  @Field(() => Int)
  connectedClients!: number;

  @Field(() => Int)
  activeSubscriptions!: number;

  @Field(() => Int)
  onlineUsers!: number;

  @Field(() => Float)
  messagesPerMinute!: number;

  @Field(() => Float)
  requestsPerSecond!: number;

  @Field(() => Float)
  p95LatencyMs!: number;

  @Field(() => Float)
  errorsPerMinute!: number;
}

/** The longest range metricsHistory answers in one call: a week of minutes. */
const MAX_HISTORY_MS = 7 * 86_400_000;

function minutesBetween(from: unknown, to: unknown): number {
  const ms = new Date(to as string).getTime() - new Date(from as string).getTime();
  return Number.isFinite(ms) ? Math.min(Math.max(Math.ceil(ms / 60_000), 0), MAX_HISTORY_MS / 60_000) : MAX_HISTORY_MS / 60_000;
}

@Resolver()
export class MetricsResolver {
  @Authorized(Role.ADMIN)
  @Query(() => MetricsSnapshot, { description: 'Cluster-wide live figures. ADMIN only.' })
  metrics(@Ctx() { services }: Context): Promise<Snapshot> {
    return services.clusterMetrics.snapshot();
  }

  @Authorized(Role.ADMIN)
  // One sample per minute of the range (the cost model counts that many; a week at most).
  @Extensions(listSize((args) => (args ? minutesBetween(args.from, args.to) : MAX_HISTORY_MS / 60_000)))
  @Query(() => [MetricSample], { description: 'Per-minute rollups in [from, to). ADMIN only.' })
  metricsHistory(@Arg('from', () => Date) from: Date, @Arg('to', () => Date) to: Date, @Ctx() { services }: Context): Promise<MetricSample[]> {
    if (!(from < to) || to.getTime() - from.getTime() > MAX_HISTORY_MS) {
      throw new BadUserInputError(`from must be before to, at most 7 days apart; got ${from.toISOString()} .. ${to.toISOString()}.`, { argument: 'from' });
    }
    return services.dataSource
      .getRepository(MetricSample)
      .createQueryBuilder('s')
      .where('s.at >= :from AND s.at < :to', { from, to })
      .orderBy('s.at')
      .getMany();
  }

  @Authorized(Role.ADMIN)
  @Extensions(viewerIndependent)
  @Subscription(() => MetricsSnapshot, {
    name: 'metrics',
    description: 'Cluster-wide live figures every intervalSeconds (1..60). ADMIN only.',
    subscribe: subscribeWith(
      (args) => {
        const intervalSeconds = (args.intervalSeconds as number | null | undefined) ?? 1;
        if (intervalSeconds < 1 || intervalSeconds > 60) throw new BadUserInputError(`intervalSeconds must be 1..60, got ${intervalSeconds}.`, { argument: 'intervalSeconds' });
        return intervalSeconds;
      },
      (intervalSeconds, { services }) => services.clusterMetrics.follow(intervalSeconds),
    ),
  })
  metricsSubscription(@Root() snapshot: Snapshot, @Arg('intervalSeconds', () => Int, { nullable: true, defaultValue: 1 }) _intervalSeconds: number): Snapshot {
    return snapshot;
  }
}
