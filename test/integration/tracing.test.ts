import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { loadConfig } from '../../src/config';
import { signInbound } from '../../src/webhooks/inbound';
import { openConversation } from '../factories/chat.factory';
import { createUser } from '../factories/user.factory';
import { expectEventually } from '../helpers/expect-eventually';
import { errorCodes, gql, runOperation } from '../helpers/gql';
import { operation } from '../helpers/operations';
import { startTestApp, type TestApp } from '../helpers/test-app';
import { connectWs, type TestWsClient } from '../helpers/ws-client';

/** The protobuf types OTLP/HTTP carries, from the exporter's own generated code (no .proto files here). */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const otlp = require(path.resolve(__dirname, '../../node_modules/@opentelemetry/otlp-transformer/build/src/generated/root.js')) as {
  opentelemetry: { proto: { collector: { trace: { v1: { ExportTraceServiceRequest: { decode(bytes: Buffer): unknown; toObject(message: unknown, options: object): unknown } } } } } };
};

interface ReceivedSpan {
  service: string;
  instance: string;
  protocol: 'json' | 'protobuf';
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
}

/**
 * An OTLP/HTTP receiver of the test's own, as a collector would be: it takes POST /v1/traces in
 * JSON and in protobuf, and keeps every span with its service, its instance and its trace.
 */
async function startReceiver(): Promise<{ url: string; spans: ReceivedSpan[]; server: Server }> {
  const spans: ReceivedSpan[] = [];
  const read = (req: IncomingMessage) =>
    new Promise<Buffer>((resolve) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c)).on('end', () => resolve(Buffer.concat(chunks)));
    });
  const server = createServer(async (req, res) => {
    const body = await read(req);
    const protobuf = req.headers['content-type'] === 'application/x-protobuf';
    const { ExportTraceServiceRequest } = otlp.opentelemetry.proto.collector.trace.v1;
    // Both encodings as JSON with hex ids (OTLP/JSON's), so the test reads one shape.
    const request = (protobuf ? ExportTraceServiceRequest.toObject(ExportTraceServiceRequest.decode(body), { bytes: String, longs: String }) : JSON.parse(body.toString())) as {
      resourceSpans: { resource: { attributes: { key: string; value: { stringValue?: string } }[] }; scopeSpans: { spans: { traceId: string; spanId: string; parentSpanId?: string; name: string }[] }[] }[];
    };
    const hex = (id: string | undefined) => (!id ? '' : protobuf ? Buffer.from(id, 'base64').toString('hex') : id);
    for (const { resource, scopeSpans } of request.resourceSpans) {
      const attribute = (key: string) => resource.attributes.find((a) => a.key === key)?.value.stringValue ?? '';
      for (const { spans: list } of scopeSpans) {
        for (const span of list) {
          spans.push({ service: attribute('service.name'), instance: attribute('service.instance.id'), protocol: protobuf ? 'protobuf' : 'json', traceId: hex(span.traceId), spanId: hex(span.spanId), parentSpanId: hex(span.parentSpanId), name: span.name });
        }
      }
    }
    res.writeHead(200, { 'content-type': req.headers['content-type'] ?? 'application/json' }).end(protobuf ? Buffer.alloc(0) : '{}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, spans, server };
}

const SECRET = 'tracing-inbound-secret';
let receiver: Awaited<ReturnType<typeof startReceiver>>;
let a: TestApp;
let b: TestApp;
const sockets: TestWsClient[] = [];

beforeAll(async () => {
  receiver = await startReceiver();
  const common = { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_SERVICE_NAME: 'parley-test', OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=test', INBOUND_WEBHOOK_SECRET: SECRET };
  // One instance exports JSON, the other protobuf: both encodings reach the same collector.
  a = await startTestApp({ ...common, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' });
  b = await startTestApp({ ...common, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf', DATABASE_SCHEMA: a.config.database.schema, REDIS_KEY_PREFIX: a.config.redis.keyPrefix, JOBS_ENABLED: 'false' });
});
afterAll(async () => {
  await Promise.all(sockets.map((s) => s.dispose()));
  await b.stop();
  await a.stop();
  await new Promise((resolve) => receiver.server.close(resolve));
});

const flush = () => Promise.all([a.services.tracing.flush(), b.services.tracing.flush()]);
const newTraceparent = () => `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`;

describe('OpenTelemetry traces', () => {
  it('are off unless an OTLP endpoint is set', () => {
    expect(loadConfig({}).tracing).toBeUndefined();
    expect(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SDK_DISABLED: 'true' }).tracing).toBeUndefined();
    expect(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' }).tracing).toMatchObject({ url: 'http://collector:4318/v1/traces', protocol: 'http/protobuf', serviceName: 'parley' });
    expect(() => loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4317', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' })).toThrow('grpc is not supported');
  });

  it('follow one sendMessage from the HTTP request on A, through PostgreSQL and the Redis publish, to its delivery on B, in one trace', async () => {
    const [ada, bob] = await Promise.all([createUser(a), createUser(a)]);
    const conversationId = await openConversation(a, [ada, bob]);
    const socket = connectWs(b.wsUrl, { token: bob.token });
    sockets.push(socket);
    const events = socket.subscribe(operation('ConversationEvents'), { conversationId, afterSeq: 0 });
    // The subscription is live once the conversation's first event (its creation) has come.
    await events.next(10_000);

    const traceparent = newTraceparent();
    const traceId = traceparent.split('-')[1];
    const sent = await gql(a, operation('SendMessage'), { input: { conversationId, body: 'traced', clientMessageId: randomBytes(8).toString('hex') } }, { token: ada.token, headers: { traceparent } });
    expect(errorCodes(sent)).toEqual([]);
    await expectEventually(async () => {
      const event = (await events.next(10_000)).data as { conversationEvents: { __typename: string } };
      expect(event.conversationEvents.__typename).toBe('MessageAdded');
    });

    await expectEventually(async () => {
      await flush();
      const trace = receiver.spans.filter((s) => s.traceId === traceId);
      const on = (app: TestApp) => trace.filter((s) => s.instance === app.instanceId).map((s) => s.name);
      expect(on(a)).toEqual(expect.arrayContaining(['POST /graphql', 'mutation SendMessage', 'pg.query', 'publish conversation']));
      expect(on(b)).toEqual(expect.arrayContaining(['deliver conversation']));
      // The delivery on B is a child of the publish on A.
      const publish = trace.find((s) => s.name === 'publish conversation')!;
      expect(trace.find((s) => s.name === 'deliver conversation' && s.instance === b.instanceId)!.parentSpanId).toBe(publish.spanId);
      expect(new Set(trace.map((s) => s.protocol))).toEqual(new Set(['json', 'protobuf']));
      expect(new Set(trace.map((s) => s.service))).toEqual(new Set(['parley-test']));
    }, { timeoutMs: 15_000 });
  });

  it('do not let an untrusted caller pick the trace: its traceparent becomes a link of a trace of its own', async () => {
    const untrusting = await startTestApp({
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      TRACING_TRUST_TRACEPARENT: 'false',
      DATABASE_SCHEMA: a.config.database.schema,
      REDIS_KEY_PREFIX: a.config.redis.keyPrefix,
      JOBS_ENABLED: 'false',
    });
    try {
      const traceparent = newTraceparent();
      const response = await fetch(untrusting.url.replace(/\/graphql$/, '/healthz'), { headers: { traceparent } });
      expect(response.status).toBe(200);
      await expectEventually(async () => {
        await untrusting.services.tracing.flush();
        const mine = receiver.spans.filter((s) => s.instance === untrusting.instanceId && s.name === 'GET /healthz');
        expect(mine).toHaveLength(1);
        expect(mine[0].traceId).not.toBe(traceparent.split('-')[1]);
        expect(mine[0].parentSpanId).toBe('');
      });
    } finally {
      await untrusting.stop();
    }
  });

  it('join an inbound webhook’s job to the request that queued it', async () => {
    const [agent, customer] = await Promise.all([createUser(a), createUser(a)]);
    const support = await openConversation(a, [agent, customer], 'SUPPORT');
    const traceparent = newTraceparent();
    const body = JSON.stringify({ externalEventId: `sms-${randomBytes(6).toString('hex')}`, conversationId: support, authorHandle: customer.user.handle, body: 'traced job', sentAt: new Date().toISOString() });
    const response = await fetch(a.url.replace(/\/graphql$/, '/webhooks/inbound'), { method: 'POST', headers: { 'content-type': 'application/json', 'x-parley-signature': signInbound(SECRET, body), traceparent }, body });
    expect(response.status).toBe(202);
    await expectEventually(async () => {
      const page = await runOperation(a, 'ConversationMessages', { id: support, last: 5 }, { token: agent.token });
      expect(page.data!.conversation.messages.edges.map((e: { node: { body: string } }) => e.node.body)).toContain('traced job');
    }, { timeoutMs: 20_000 });
    await expectEventually(async () => {
      await flush();
      const names = receiver.spans.filter((s) => s.traceId === traceparent.split('-')[1]).map((s) => s.name);
      expect(names).toEqual(expect.arrayContaining(['POST /webhooks/inbound', 'job inbound-webhook']));
    }, { timeoutMs: 15_000 });
  });
});
