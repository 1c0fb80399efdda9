import { Column, Entity, PrimaryColumn } from 'typeorm';

/** One cluster-wide rollup per minute, written by the metrics-rollup job. */
@Entity({ name: 'metric_samples' })
export class MetricSample {
  /** Start of the minute, UTC. */
  @PrimaryColumn({ type: 'timestamptz' })
  at!: Date;

  @Column({ type: 'integer', default: 0 })
  messages!: number;

  @Column({ type: 'integer', default: 0 })
  requests!: number;

  @Column({ type: 'integer', default: 0 })
  errors!: number;

  @Column({ name: 'active_users', type: 'integer', default: 0 })
  activeUsers!: number;

  @Column({ name: 'p95_latency_ms', type: 'double precision', default: 0 })
  p95LatencyMs!: number;
}
