import { AsyncLocalStorage } from 'node:async_hooks';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Span, type Tracer } from '@opentelemetry/api';
import http from 'node:http';
import https from 'node:https';
import { ExportResultCode, W3CTraceContextPropagator, type ExportResult } from '@opentelemetry/core';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { TracingConfig } from '../config';

/** What a span is made of here; `kind` defaults to internal. */
export interface SpanOptions {
  kind?: SpanKind;
  attributes?: Attributes;
  /** A caller's `traceparent` that is not trusted as the parent: the span starts a trace of its own, linked to it. */
  linkTo?: string;
}

/**
 * Parley's spans. Off (`enabled: false`), every method runs its work and nothing else: no span, no
 * context, no allocation beyond the call, so tracing costs nothing unless OTEL_* asks for it.
 *
 * On, the current span travels with the async work of a request (AsyncLocalStorage): the HTTP
 * request, its GraphQL operation and its PostgreSQL statements are one trace. Across processes it
 * travels as a W3C `traceparent`: in HTTP headers, in events on the bus (the delivery on another
 * instance joins the publisher's trace) and in job payloads (the job joins the request that queued it).
 */
export interface Tracing {
  readonly enabled: boolean;
  /** Runs `work` in a new span, child of the current one (or of `traceparent`'s); ends it when `work` settles, recording a throw. */
  inSpan<T>(name: string, options: SpanOptions, work: (span: Span | undefined) => T, traceparent?: string): T;
  /** Starts a span, child of the current one (or of `traceparent`'s), that the caller ends; and a way to run work inside it. */
  start(name: string, options: SpanOptions, traceparent?: string): OpenSpan | undefined;
  /** The W3C `traceparent` of the current span, to carry to another process; undefined when none (or off). */
  traceparent(): string | undefined;
  /** Sends what is buffered. */
  flush(): Promise<void>;
  shutdown(): Promise<void>;
}

export interface OpenSpan {
  span: Span;
  /** Runs `work` with this span as the current one. */
  run<T>(work: () => T): T;
  /** Ends the span; an error marks it failed. */
  end(error?: unknown): void;
}

interface Active {
  tracer: Tracer;
  context: Context;
}

const propagator = new W3CTraceContextPropagator();
/** The span a piece of async work belongs to, with the tracer of the app that made it (tests run two apps in one process). */
const active = new AsyncLocalStorage<Active>();

export const noTracing: Tracing = {
  enabled: false,
  inSpan: (_name, _options, work) => work(undefined),
  start: () => undefined,
  traceparent: () => undefined,
  flush: async () => undefined,
  shutdown: async () => undefined,
};

/** Tracing as `config` says: off when it is undefined. `instanceId` names this process among the instances (service.instance.id). */
export function createTracing(config: TracingConfig | undefined, instanceId: string): Tracing {
  if (!config) return noTracing;
  const exporter = otlpHttpExporter(config);
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ ...config.resourceAttributes, 'service.name': config.serviceName, 'service.instance.id': instanceId }),
    spanProcessors: [new BatchSpanProcessor(exporter)],
  });
  const tracer = provider.getTracer('parley');

  const extract = (traceparent: string) => propagator.extract(ROOT_CONTEXT, { traceparent }, { get: (carrier, key) => carrier[key as 'traceparent'], keys: () => ['traceparent'] });
  const parentOf = (traceparent: string | undefined): Context => (traceparent ? extract(traceparent) : (active.getStore()?.context ?? ROOT_CONTEXT));

  const start = (name: string, options: SpanOptions, traceparent?: string): OpenSpan => {
    const parent = parentOf(traceparent);
    const linked = options.linkTo ? trace.getSpanContext(extract(options.linkTo)) : undefined;
    const span = tracer.startSpan(name, { kind: options.kind ?? SpanKind.INTERNAL, attributes: options.attributes, ...(linked ? { links: [{ context: linked }] } : {}) }, parent);
    const store: Active = { tracer, context: trace.setSpan(parent, span) };
    return {
      span,
      run: (work) => active.run(store, work),
      end(error) {
        if (error !== undefined) {
          span.recordException(error instanceof Error ? error : new Error(String(error)));
          span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
        }
        span.end();
      },
    };
  };

  return {
    enabled: true,
    start,
    inSpan(name, options, work, traceparent) {
      const open = start(name, options, traceparent);
      let result: ReturnType<typeof work>;
      try {
        result = open.run(() => work(open.span));
      } catch (error) {
        open.end(error);
        throw error;
      }
      if (result instanceof Promise) {
        return result.then(
          (value) => {
            open.end();
            return value;
          },
          (error: unknown) => {
            open.end(error);
            throw error;
          },
        ) as typeof result;
      }
      open.end();
      return result;
    },
    traceparent() {
      const context = active.getStore()?.context;
      if (!context || !trace.getSpan(context)) return undefined;
      const carrier: Record<string, string> = {};
      propagator.inject(context, carrier, { set: (c, key, value) => (c[key] = value) });
      return carrier.traceparent;
    },
    flush: () => provider.forceFlush(),
    shutdown: () => provider.shutdown(),
  };
}

/** How long one export may take before it counts as failed (the batch is then dropped, as the SDK's exporters do). */
const EXPORT_TIMEOUT_MS = 10_000;

/**
 * OTLP over HTTP, as JSON or protobuf, serialised by OpenTelemetry's own otlp-transformer: one POST
 * per batch to the traces endpoint. (The SDK's OTLP exporters load node:http through a dynamic
 * import(), which Jest's module system cannot run; this one is the same protocol in a page.)
 */
function otlpHttpExporter(config: TracingConfig): SpanExporter {
  const json = config.protocol === 'http/json';
  const transport = config.url.startsWith('https:') ? https : http;
  const inFlight = new Set<Promise<void>>();
  return {
    export(spans: ReadableSpan[], done: (result: ExportResult) => void) {
      const body = (json ? JsonTraceSerializer : ProtobufTraceSerializer).serializeRequest(spans);
      if (!body) return done({ code: ExportResultCode.FAILED, error: new Error('spans could not be serialised') });
      const sent = new Promise<void>((settle) => {
        let finished = false;
        const finish = (result: ExportResult) => {
          if (finished) return;
          finished = true;
          settle();
          done(result);
        };
        const request = transport.request(
          config.url,
          { method: 'POST', timeout: EXPORT_TIMEOUT_MS, headers: { ...config.headers, 'content-type': json ? 'application/json' : 'application/x-protobuf', 'content-length': body.length } },
          (response) => {
            response.resume();
            response.once('end', () => {
              const ok = response.statusCode !== undefined && response.statusCode < 300;
              finish(ok ? { code: ExportResultCode.SUCCESS } : { code: ExportResultCode.FAILED, error: new Error(`the collector answered ${response.statusCode}`) });
            });
            // A connection closed mid-answer ends neither with 'end' nor with 'error'.
            response.once('close', () => finish({ code: ExportResultCode.FAILED, error: new Error('the collector closed the connection before answering in full') }));
            response.once('error', (error) => finish({ code: ExportResultCode.FAILED, error }));
          },
        );
        request.once('timeout', () => request.destroy(new Error(`no answer from the collector within ${EXPORT_TIMEOUT_MS} ms`)));
        request.once('error', (error) => finish({ code: ExportResultCode.FAILED, error }));
        request.end(body);
      });
      inFlight.add(sent);
      void sent.then(() => inFlight.delete(sent));
    },
    async forceFlush() {
      await Promise.all(inFlight);
    },
    async shutdown() {
      await Promise.all(inFlight);
    },
  };
}

/**
 * A span per PostgreSQL statement, child of the current span: node-postgres's `Client.query`
 * wrapped once per loaded `pg`. Statements that run outside any span (pool health, pg-boss's
 * polling) make none. Called only when tracing is on.
 */
export function traceStatements(pg: { Client: { prototype: { query: (...args: unknown[]) => unknown } } }): void {
  const prototype = pg.Client.prototype as { query: (...args: unknown[]) => unknown; __parleyTraced?: boolean };
  if (prototype.__parleyTraced) return;
  prototype.__parleyTraced = true;
  const query = prototype.query;
  prototype.query = function traced(this: unknown, ...args: unknown[]) {
    const store = active.getStore();
    if (!store || !trace.getSpan(store.context)) return query.apply(this, args);
    const [config] = args;
    const text = typeof config === 'string' ? config : (config as { text?: unknown } | null)?.text;
    const span = store.tracer.startSpan(
      'pg.query',
      { kind: SpanKind.CLIENT, attributes: { 'db.system.name': 'postgresql', ...(typeof text === 'string' ? { 'db.query.text': text.slice(0, 2_000) } : {}) } },
      store.context,
    );
    const end = (error?: unknown) => {
      if (error) span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
      span.end();
    };
    const last = args.length - 1;
    if (typeof args[last] === 'function') {
      const callback = args[last] as (error: unknown, ...rest: unknown[]) => void;
      args[last] = (error: unknown, ...rest: unknown[]) => {
        end(error);
        callback(error, ...rest);
      };
      return query.apply(this, args);
    }
    const result = query.apply(this, args);
    if (result instanceof Promise) result.then(() => end(), end);
    else if (result && typeof (result as { once?: unknown }).once === 'function') {
      // A Submittable (several statements in one round trip): it says when it is done.
      (result as NodeJS.EventEmitter).once('end', () => end()).once('error', end);
    } else end();
    return result;
  };
}
