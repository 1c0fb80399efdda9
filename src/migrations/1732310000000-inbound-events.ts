import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Inbound webhook events already turned into messages, by the id the external channel gave them:
 * the same event delivered again — later, concurrently, even naming another author — makes no
 * second message. Written in the transaction of the message itself.
 */
export class InboundEvents1732310000000 implements MigrationInterface {
  name = 'InboundEvents1732310000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE inbound_events (
        external_event_id varchar(200) NOT NULL CONSTRAINT inbound_events_pkey PRIMARY KEY,
        message_id uuid NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
        received_at timestamptz NOT NULL DEFAULT now()
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE inbound_events`);
  }
}
