import type { DataSource } from 'typeorm';
import { BadUserInputError, ForbiddenError } from '../errors';
import { databaseUnavailable } from '../database/postgres-errors';
import { queryPrimary } from '../database/primary';
import { headSeq, readEvents } from '../events/event-log';
import { EventQueue, type QueueBound } from './event-queue';
import type { Metrics } from '../observability/metrics';
import type { EventBus } from '../events/bus';
import { Topic, type ConversationTopicEvent } from '../events/topics';

/** Sent instead of events when more were missed than the server replays. */
export interface ResyncItem {
  conversationId: string;
  seq: null;
  type: 'ResyncRequired';
  occurredAt: string;
  payload: { fromSeq: number };
}

export type StreamItem = ConversationTopicEvent | ResyncItem;

const CATCH_UP = Symbol('catch up with the log');

export interface ConversationStreamOptions {
  bus: EventBus;
  dataSource: DataSource;
  conversationId: string;
  viewerId: string;
  /** Replay every stored event after this seq first; null: only what happens from now on. */
  afterSeq: number | null;
  /** Most stored events replayed, or backfilled into one gap, before ResyncRequired is sent instead. */
  replayLimit: number;
  /** A TypingChanged(true) not refreshed within this many ms is followed by a TypingChanged(false). */
  typingTimeoutMs: number;
  metrics?: Pick<Metrics, 'eventDelivered' | 'eventsReplayed' | 'resync'>;
  /** Bounds what waits for a subscriber whose socket stopped taking frames. */
  bound?: QueueBound;
}

/**
 * One subscriber's view of a conversation (ARCHITECTURE.md, real-time delivery contract 3–6):
 * stored events in seq order, each exactly once, ephemeral ones as they come.
 *
 * The seam between history and live events is closed by ordering: listen on the topic first
 * (buffering), then read the head seq and membership, replay the log up to it, then drain the
 * buffer skipping what was replayed. A live event whose seq leaves a gap is preceded by the missing
 * events, read from the log: they are committed by then, because a seq is only handed out after the
 * previous one's transaction ended. When the bus reconnects, the stream reads the log up to the head
 * seq, so an event lost during the outage arrives even if nothing follows it. Rejects with
 * FORBIDDEN for a non-member; fails the stream with FORBIDDEN when the viewer's MemberLeft comes by.
 */
export async function openConversationStream(options: ConversationStreamOptions): Promise<EventQueue<StreamItem>> {
  return new ConversationStream(options).open();
}

const noop = () => undefined;

/**
 * The state of one subscriber's stream. A class rather than a function of closures: ten thousand
 * subscribers of a conversation share its methods and each keeps only its fields.
 */
class ConversationStream {
  readonly queue: EventQueue<StreamItem>;
  /** Live events in arrival order; CATCH_UP asks the drain to read the log up to the head seq. */
  private readonly inbound: (ConversationTopicEvent | typeof CATCH_UP)[] = [];
  /** Made on the first TypingChanged(true): most subscribers never need it. */
  private typingTimers: Map<string, NodeJS.Timeout> | undefined = undefined;
  private live = false;
  private draining = false;
  private delivered = 0;
  /** Reads from the log that failed in a row because PostgreSQL was busy or away. */
  private retries = 0;
  /** Membership was checked at this seq: only a MemberLeft after it revokes the subscription. */
  private checkedAt = 0;
  private stopListening: () => void = noop;
  private stopCatchingUp: () => void = noop;

  constructor(private readonly options: ConversationStreamOptions) {
    this.queue = new EventQueue<StreamItem>(() => this.closed(), options.bound);
  }

  async open(): Promise<EventQueue<StreamItem>> {
    const { bus, dataSource, conversationId, viewerId } = this.options;
    this.stopListening = await bus.listen(Topic.conversation(conversationId), (event) => this.received(event));
    this.stopCatchingUp = bus.onReconnect(() => this.reconnected());
    try {
      const [state] = await queryPrimary<{ lastSeq: number; member: boolean }>(
        dataSource,
        `SELECT c.last_seq AS "lastSeq", EXISTS (SELECT 1 FROM memberships WHERE conversation_id = c.id AND user_id = $2) AS member
         FROM conversations c WHERE c.id = $1`,
        [conversationId, viewerId],
      );
      if (!state?.member) throw new ForbiddenError('Only members can follow a conversation.');
      this.checkedAt = state.lastSeq;
      const { afterSeq } = this.options;
      if (afterSeq !== null && afterSeq > state.lastSeq) {
        throw new BadUserInputError(`afterSeq ${afterSeq} is beyond the conversation's last seq, ${state.lastSeq}.`, { argument: 'afterSeq' });
      }
      this.delivered = afterSeq ?? state.lastSeq;
      await this.catchUp(state.lastSeq + 1);
    } catch (error) {
      await this.queue.return();
      throw error;
    }
    this.live = true;
    void this.drain();
    return this.queue;
  }

  private received(event: ConversationTopicEvent): void {
    // The common case — live, nothing pending, the next seq or an ephemeral event — is delivered
    // here and now, without the drain loop's promises: this runs once per subscriber per event.
    if (this.live && !this.draining && this.inbound.length === 0 && (event.seq === null || event.seq === this.delivered + 1)) return this.deliver(event);
    this.inbound.push(event);
    if (this.live) void this.drain();
  }

  private reconnected(): void {
    this.inbound.push(CATCH_UP);
    if (this.live) void this.drain();
  }

  private closed(): void {
    this.stopListening();
    this.stopCatchingUp();
    this.stopListening = this.stopCatchingUp = noop;
    for (const timer of this.typingTimers?.values() ?? []) clearTimeout(timer);
    this.typingTimers?.clear();
  }

  private resync(fromSeq: number): ResyncItem {
    return { conversationId: this.options.conversationId, seq: null, type: 'ResyncRequired', occurredAt: new Date().toISOString(), payload: { fromSeq } };
  }

  /** Delivers stored events after `delivered` up to and excluding `upTo`, or ResyncRequired when there are too many. */
  private async catchUp(upTo: number): Promise<void> {
    const missing = upTo - this.delivered - 1;
    if (missing <= 0) return;
    if (missing > this.options.replayLimit) {
      // The skipped events may have removed the viewer: look again, as at subscribe time (before
      // anything changes, so that a read that fails is tried again as a whole).
      const member = !this.live || (await this.isMember());
      this.options.metrics?.resync();
      this.queue.push(this.resync(this.delivered + 1));
      this.delivered = upTo - 1;
      if (!member) this.queue.fail(new ForbiddenError('You are no longer a member of this conversation.'));
      else this.checkedAt = upTo - 1;
      return;
    }
    const events = await readEvents(this.options.dataSource, this.options.conversationId, this.delivered, missing);
    this.options.metrics?.eventsReplayed(events.length);
    for (const event of events) this.deliver(event, false);
  }

  /** `live`: the event came from the bus now, not from the log (only those measure delivery lag). */
  private deliver(event: ConversationTopicEvent, live = true): void {
    if (event.seq !== null) this.delivered = event.seq;
    if (event.type === 'MemberLeft' && event.payload.userId === this.options.viewerId && event.seq > this.checkedAt) {
      this.queue.fail(new ForbiddenError('You are no longer a member of this conversation.'));
      return;
    }
    if (event.type === 'TypingChanged') this.expireTyping(event);
    this.options.metrics?.eventDelivered(event, live);
    this.queue.push(event);
  }

  private expireTyping({ payload: { userId, typing } }: { payload: { userId: string; typing: boolean } }): void {
    const timers = this.typingTimers;
    clearTimeout(timers?.get(userId));
    timers?.delete(userId);
    if (!typing) return;
    const timer = setTimeout(() => {
      this.typingTimers?.delete(userId);
      this.queue.push({ conversationId: this.options.conversationId, seq: null, type: 'TypingChanged', occurredAt: new Date().toISOString(), payload: { userId, typing: false } });
    }, this.options.typingTimeoutMs);
    timer.unref();
    (this.typingTimers ??= new Map()).set(userId, timer);
  }

  // One drain at a time, so events are delivered in the order the gap checks assume. An event that
  // arrives while a backfill is awaited waits in `inbound` for the running loop.
  private async drain(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    try {
      while (this.inbound.length > 0 && this.queue.isOpen) {
        const event = this.inbound[0];
        if (event === CATCH_UP) await this.catchUp(((await headSeq(this.options.dataSource, this.options.conversationId)) ?? this.delivered) + 1);
        else if (event.seq === null) this.deliver(event);
        else if (event.seq > this.delivered) {
          await this.catchUp(event.seq);
          this.deliver(event);
        }
        this.inbound.shift();
        this.retries = 0;
      }
    } catch (error) {
      // PostgreSQL busy or away: the subscription waits and reads again (later events wait behind
      // the one that needs the read, in order) rather than ending, which would send every
      // subscriber of the conversation back to set up again at once.
      if (databaseUnavailable(error) && this.queue.isOpen) this.retryDrain();
      else this.queue.fail(error);
    } finally {
      this.draining = false;
    }
  }

  /** Drains again after a backoff that grows (with jitter) while the reads keep failing, up to 5 s. */
  private retryDrain(): void {
    const delay = Math.min(250 * 2 ** this.retries++, 5_000) * (0.5 + Math.random() / 2);
    setTimeout(() => void this.drain(), delay).unref();
  }

  private async isMember(): Promise<boolean> {
    const { dataSource, conversationId, viewerId } = this.options;
    return (await queryPrimary(dataSource, `SELECT 1 FROM memberships WHERE conversation_id = $1 AND user_id = $2`, [conversationId, viewerId])).length > 0;
  }
}
