import type { DataSource } from 'typeorm';
import { BadUserInputError, ForbiddenError } from '../errors';
import { queryPrimary } from '../database/primary';
import { headSeq, readEvents } from '../services/event-log';
import { EventQueue, type QueueBound } from './event-queue';
import type { Metrics } from '../observability/metrics';
import type { EventBus } from './pubsub';
import { Topic, type ConversationTopicEvent } from './topics';

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
  const { bus, dataSource, conversationId, viewerId, replayLimit, typingTimeoutMs } = options;
  /** Live events in arrival order; CATCH_UP asks the drain to read the log up to the head seq. */
  const inbound: (ConversationTopicEvent | typeof CATCH_UP)[] = [];
  const typingTimers = new Map<string, NodeJS.Timeout>();
  let live = false;
  let draining = false;
  let delivered = 0;
  /** Membership was checked at this seq: only a MemberLeft after it revokes the subscription. */
  let checkedAt = 0;

  const queue = new EventQueue<StreamItem>(() => {
    stopListening();
    stopCatchingUp();
    for (const timer of typingTimers.values()) clearTimeout(timer);
    typingTimers.clear();
  }, options.bound);
  const stopListening = await bus.listen(Topic.conversation(conversationId), (event) => {
    // The common case — live, nothing pending, the next seq or an ephemeral event — is delivered
    // here and now, without the drain loop's promises: this runs once per subscriber per event.
    if (live && !draining && inbound.length === 0 && (event.seq === null || event.seq === delivered + 1)) return deliver(event);
    inbound.push(event);
    if (live) void drain();
  });

  const stopCatchingUp = bus.onReconnect(() => {
    inbound.push(CATCH_UP);
    if (live) void drain();
  });

  const resync = (fromSeq: number): ResyncItem => ({ conversationId, seq: null, type: 'ResyncRequired', occurredAt: new Date().toISOString(), payload: { fromSeq } });

  /** Delivers stored events after `delivered` up to and excluding `upTo`, or ResyncRequired when there are too many. */
  const catchUp = async (upTo: number) => {
    const missing = upTo - delivered - 1;
    if (missing <= 0) return;
    if (missing > replayLimit) {
      options.metrics?.resync();
      queue.push(resync(delivered + 1));
      delivered = upTo - 1;
      // The skipped events may have removed the viewer: look again, as at subscribe time.
      if (live && !(await isMember())) queue.fail(new ForbiddenError('You are no longer a member of this conversation.'));
      else checkedAt = upTo - 1;
      return;
    }
    const events = await readEvents(dataSource, conversationId, delivered, missing);
    options.metrics?.eventsReplayed(events.length);
    for (const event of events) deliver(event, false);
  };

  /** `live`: the event came from the bus now, not from the log (only those measure delivery lag). */
  const deliver = (event: ConversationTopicEvent, live = true) => {
    if (event.seq !== null) delivered = event.seq;
    if (event.type === 'MemberLeft' && event.payload.userId === viewerId && event.seq > checkedAt) {
      queue.fail(new ForbiddenError('You are no longer a member of this conversation.'));
      return;
    }
    if (event.type === 'TypingChanged') expireTyping(event);
    options.metrics?.eventDelivered(event, live);
    queue.push(event);
  };

  const expireTyping = ({ payload: { userId, typing } }: { payload: { userId: string; typing: boolean } }) => {
    clearTimeout(typingTimers.get(userId));
    typingTimers.delete(userId);
    if (!typing) return;
    const timer = setTimeout(() => {
      typingTimers.delete(userId);
      queue.push({ conversationId, seq: null, type: 'TypingChanged', occurredAt: new Date().toISOString(), payload: { userId, typing: false } });
    }, typingTimeoutMs);
    timer.unref();
    typingTimers.set(userId, timer);
  };

  // One drain at a time, so events are delivered in the order the gap checks assume. An event that
  // arrives while a backfill is awaited waits in `inbound` for the running loop.
  const drain = async () => {
    if (draining) return;
    draining = true;
    try {
      while (inbound.length > 0 && queue.isOpen) {
        const event = inbound.shift()!;
        if (event === CATCH_UP) await catchUp(((await headSeq(dataSource, conversationId)) ?? delivered) + 1);
        else if (event.seq === null) deliver(event);
        else if (event.seq > delivered) {
          await catchUp(event.seq);
          deliver(event);
        }
      }
    } catch (error) {
      queue.fail(error);
    } finally {
      draining = false;
    }
  };

  const isMember = async () =>
    (await queryPrimary(dataSource, `SELECT 1 FROM memberships WHERE conversation_id = $1 AND user_id = $2`, [conversationId, viewerId])).length > 0;

  try {
    const [state] = await queryPrimary<{ lastSeq: number; member: boolean }>(
      dataSource,
      `SELECT c.last_seq AS "lastSeq", EXISTS (SELECT 1 FROM memberships WHERE conversation_id = c.id AND user_id = $2) AS member
       FROM conversations c WHERE c.id = $1`,
      [conversationId, viewerId],
    );
    if (!state?.member) throw new ForbiddenError('Only members can follow a conversation.');
    checkedAt = state.lastSeq;
    if (options.afterSeq !== null && options.afterSeq > state.lastSeq) {
      throw new BadUserInputError(`afterSeq ${options.afterSeq} is beyond the conversation's last seq, ${state.lastSeq}.`, { argument: 'afterSeq' });
    }
    delivered = options.afterSeq ?? state.lastSeq;
    await catchUp(state.lastSeq + 1);
  } catch (error) {
    await queue.return();
    throw error;
  }
  live = true;
  void drain();
  return queue;
}
