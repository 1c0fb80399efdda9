import { Column, Entity, PrimaryColumn } from 'typeorm';

/**
 * One instance's request figures for one minute, flushed as the minute goes by; the
 * metrics-rollup job sums every instance's row into that minute's MetricSample.
 */
@Entity({ name: 'metric_instance_minutes' })
export class MetricInstanceMinute {
  /** Start of the minute, UTC. */
  @PrimaryColumn({ type: 'timestamptz', primaryKeyConstraintName: 'metric_instance_minutes_pkey' })
  minute!: Date;

  @PrimaryColumn({ name: 'instance_id', type: 'varchar', length: 64, primaryKeyConstraintName: 'metric_instance_minutes_pkey' })
  instanceId!: string;

  @Column({ type: 'integer', default: 0 })
  requests!: number;

  @Column({ type: 'integer', default: 0 })
  errors!: number;

  /** Operation counts per latency bucket (observability/latency-buckets.ts). */
  @Column({ name: 'latency_buckets', type: 'integer', array: true })
  latencyBuckets!: number[];
}
