import { Field, Float, Int, ObjectType } from 'type-graphql';
import { Column, Entity, PrimaryColumn } from 'typeorm';

/** One cluster-wide rollup per minute, written by the metrics-rollup job; `MetricsSample` in GraphQL. */
@ObjectType('MetricsSample', { simpleResolvers: true })
@Entity({ name: 'metric_samples' })
export class MetricSample {
  /** Start of the minute, UTC. */
  @Field(() => Date)
  @PrimaryColumn({ type: 'timestamptz' })
  at!: Date;

  @Field(() => Int, { description: 'Messages sent in the minute.' })
  @Column({ type: 'integer', default: 0 })
  messages!: number;

  @Field(() => Int, { description: 'GraphQL operations answered (queries and mutations, HTTP and WebSocket).' })
  @Column({ type: 'integer', default: 0 })
  requests!: number;

  @Field(() => Int, { description: 'Operations answered with an error.' })
  @Column({ type: 'integer', default: 0 })
  errors!: number;

  @Field(() => Int, { description: 'Distinct users who sent a message in the minute.' })
  @Column({ name: 'active_users', type: 'integer', default: 0 })
  activeUsers!: number;

  @Field(() => Float)
  @Column({ name: 'p95_latency_ms', type: 'double precision', default: 0 })
  p95LatencyMs!: number;
}
