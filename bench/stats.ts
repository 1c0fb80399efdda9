/** Latency samples in milliseconds → the figures every suite reports. */
export interface LatencySummary {
  count: number;
  mean: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

export function summarize(samples: number[]): LatencySummary {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  const round = (n: number) => Math.round(n * 1000) / 1000;
  return {
    count: sorted.length,
    mean: round(sorted.reduce((a, b) => a + b, 0) / sorted.length),
    p50: round(at(0.5)),
    p95: round(at(0.95)),
    p99: round(at(0.99)),
    max: round(sorted.at(-1) ?? 0),
  };
}

export function ratio(a: number, b: number): number {
  return Math.round((a / b) * 100) / 100;
}

/** Slope and intercept of the least-squares line through `points`. */
export function fit(points: { x: number; y: number }[]): { slope: number; intercept: number } {
  const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
  const mx = mean(points.map((p) => p.x));
  const my = mean(points.map((p) => p.y));
  const sxx = points.reduce((sum, p) => sum + (p.x - mx) ** 2, 0);
  const slope = sxx === 0 ? 0 : points.reduce((sum, p) => sum + (p.x - mx) * (p.y - my), 0) / sxx;
  return { slope, intercept: my - slope * mx };
}

/** One load: the CPU it used over `seconds` while `messages` went through. */
export interface LoadCpu {
  cpu: number;
  seconds: number;
  messages: number;
}

/**
 * Splits the CPU of two loads run at different rates into what runs by the clock and what each
 * message costs, solving cpu = perSecond × seconds + perMessage × messages for both. Undefined when
 * the two loads cannot be told apart (the same rate).
 */
export function marginalCost(low: LoadCpu, high: LoadCpu): { perMessage: number; perSecond: number } | undefined {
  const determinant = high.messages * low.seconds - low.messages * high.seconds;
  if (Math.abs(determinant) < 1e-9 || low.seconds <= 0) return undefined;
  const perMessage = (high.cpu * low.seconds - low.cpu * high.seconds) / determinant;
  return { perMessage, perSecond: (low.cpu - perMessage * low.messages) / low.seconds };
}
