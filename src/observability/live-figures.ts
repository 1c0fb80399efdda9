import { addBuckets, bucketOf, emptyBuckets } from './latency-buckets';

const WINDOW_SECONDS = 60;
/** requestsPerSecond averages over this many seconds. */
const RATE_SECONDS = 10;

interface Slot {
  second: number;
  requests: number;
  errors: number;
  messages: number;
  buckets: number[];
}

/** One instance's recent figures, as it reports them to the cluster. */
export interface InstanceFigures {
  requestsPerSecond: number;
  errorsPerMinute: number;
  messagesPerMinute: number;
  /** Operations of the last minute by latency bucket. */
  latencyBuckets: number[];
}

/** One instance's figures for one whole minute, as it stores them for the rollup job. */
export interface MinuteFigures {
  minute: Date;
  requests: number;
  errors: number;
  latencyBuckets: number[];
}

/**
 * Rolling per-second counters of this instance: operations (with latency) and errors, and messages
 * committed here. Kept in a ring of 60 one-second slots, so reading the last minute costs the same
 * at any load; whole minutes are also summed for the rollup job.
 */
export function createLiveFigures(now: () => number = Date.now) {
  const slots: Slot[] = Array.from({ length: WINDOW_SECONDS }, () => ({ second: -1, requests: 0, errors: 0, messages: 0, buckets: emptyBuckets() }));
  let minute: MinuteFigures | null = null;
  const finishedMinutes: MinuteFigures[] = [];

  const slot = () => {
    const second = Math.floor(now() / 1000);
    const current = slots[second % WINDOW_SECONDS];
    if (current.second !== second) Object.assign(current, { second, requests: 0, errors: 0, messages: 0, buckets: emptyBuckets() });
    return current;
  };
  const minuteFigures = () => {
    const start = new Date(Math.floor(now() / 60_000) * 60_000);
    if (minute?.minute.getTime() !== start.getTime()) {
      if (minute) finishedMinutes.push(minute);
      minute = { minute: start, requests: 0, errors: 0, latencyBuckets: emptyBuckets() };
    }
    return minute;
  };

  return {
    operation(ms: number, failed: boolean) {
      const current = slot();
      const bucket = bucketOf(ms);
      current.requests += 1;
      current.buckets[bucket] += 1;
      const figures = minuteFigures();
      figures.requests += 1;
      figures.latencyBuckets[bucket] += 1;
      if (failed) {
        current.errors += 1;
        figures.errors += 1;
      }
    },

    message() {
      slot().messages += 1;
    },

    current(): InstanceFigures {
      const second = Math.floor(now() / 1000);
      const recent = slots.filter((s) => s.second > second - WINDOW_SECONDS && s.second <= second);
      const lastSeconds = recent.filter((s) => s.second > second - RATE_SECONDS);
      return {
        requestsPerSecond: lastSeconds.reduce((sum, s) => sum + s.requests, 0) / RATE_SECONDS,
        errorsPerMinute: recent.reduce((sum, s) => sum + s.errors, 0),
        messagesPerMinute: recent.reduce((sum, s) => sum + s.messages, 0),
        latencyBuckets: recent.reduce((sum, s) => addBuckets(sum, s.buckets), emptyBuckets()),
      };
    },

    /** Minutes not yet handed out that are over, plus the running one (its figures so far). */
    takeMinutes(): MinuteFigures[] {
      const current = minuteFigures();
      return [...finishedMinutes.splice(0), { ...current, latencyBuckets: [...current.latencyBuckets] }];
    },
  };
}

export type LiveFigures = ReturnType<typeof createLiveFigures>;
