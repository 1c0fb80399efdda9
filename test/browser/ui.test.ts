import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { Role } from '../../src/entities/user.entity';
import { setRole } from '../../src/services/accounts';
import { openConversation, sendMessage, type Member } from '../factories/chat.factory';
import { DEFAULT_PASSWORD, createUser } from '../factories/user.factory';
import { expectEventually } from '../helpers/expect-eventually';
import { startTcpProxy } from '../helpers/tcp-proxy';
import { startTestApp, type TestApp } from '../helpers/test-app';

/**
 * The dashboard and the demo in a real browser: Debian's Chromium driven by playwright-core. Without
 * /usr/bin/chromium these tests are skipped, unless REQUIRE_BROWSER=1 (as in .ci/run, which installs it).
 */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const available = existsSync(CHROMIUM);
if (!available && process.env.REQUIRE_BROWSER === '1') throw new Error(`REQUIRE_BROWSER=1 but there is no Chromium at ${CHROMIUM} (apt-get install -y chromium)`);
const describeInBrowser = available ? describe : describe.skip;
const SCREENSHOTS = path.resolve(__dirname, '../../artifacts/screenshots');

let app: TestApp;
let browser: Browser;
let alice: Member;
let bob: Member;
let conversationId: string;
/** Uncaught errors of any page: each test ends with none. */
const pageErrors: Error[] = [];
afterEach(() => expect(pageErrors.splice(0)).toEqual([]));

beforeAll(async () => {
  if (!available) return;
  app = await startTestApp({ REDIS_URL: '' });
  [alice, bob] = await Promise.all([createUser(app, { handle: 'alice_ui' }), createUser(app, { handle: 'bob_ui' })]);
  conversationId = await openConversation(app, [alice, bob], 'DIRECT');
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  mkdirSync(SCREENSHOTS, { recursive: true });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await app?.stop();
});

const base = () => app.url.replace(/\/graphql$/, '');

async function signIn(page: Page, handle: string, where: 'demo' | 'dashboard', origin = base()): Promise<void> {
  await page.goto(`${origin}/${where}`);
  await page.fill('input[name=login]', handle);
  await page.fill('input[name=password]', DEFAULT_PASSWORD);
  await page.click('button[type=submit]');
  await page.locator('[data-testid=connection][data-state=connected]').waitFor();
}

async function newPage(): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1100, height: 700 } });
  const page = await context.newPage();
  page.on('pageerror', (error: Error) => pageErrors.push(error));
  return page;
}

describeInBrowser('the chat demo at /demo', () => {
  it('lets two people chat: each sees the other typing, then the message, live', async () => {
    const [a, b] = await Promise.all([newPage(), newPage()]);
    await Promise.all([signIn(a, alice.user.handle, 'demo'), signIn(b, bob.user.handle, 'demo')]);
    for (const page of [a, b]) await page.locator(`[data-testid=conversation][data-id="${conversationId}"]`).click();
    await b.locator('[data-testid=presence] .online', { hasText: '@alice_ui' }).waitFor();

    await a.fill('[data-testid=composer] input', 'Hi Bob, are you there');
    await b.locator('[data-testid=typing]', { hasText: '@alice_ui is typing' }).waitFor();
    await a.press('[data-testid=composer] input', 'Enter');
    await b.locator('[data-testid=message]', { hasText: 'Hi Bob, are you there' }).waitFor();
    await b.locator('[data-testid=typing]', { hasText: /^$/ }).waitFor();

    await b.fill('[data-testid=composer] input', 'Here! Typing back.');
    await a.locator('[data-testid=typing]', { hasText: '@bob_ui is typing' }).waitFor();
    await b.click('[data-testid=composer] button');
    await a.locator('[data-testid=message]', { hasText: 'Here! Typing back.' }).waitFor();
    await a.screenshot({ path: path.join(SCREENSHOTS, 'demo.png') });

    // A message sent elsewhere (another client of Alice's) shows up too, and in order.
    await sendMessage(app, alice, conversationId, 'Sent from the API');
    await b.locator('[data-testid=message]', { hasText: 'Sent from the API' }).waitFor();
    expect(await b.locator('[data-testid=message] .text').allTextContents()).toEqual(['@alice_ui Hi Bob, are you there', '@bob_ui Here! Typing back.', '@alice_ui Sent from the API']);
    await Promise.all([a.context().close(), b.context().close()]);
  }, 60_000);

  it('shows unread counts in the inbox and updates them live', async () => {
    const page = await newPage();
    await signIn(page, bob.user.handle, 'demo');
    const row = page.locator(`[data-testid=conversation][data-id="${conversationId}"]`);
    await row.waitFor();
    const badge = row.locator('[data-testid=unread]');
    const initial = (await badge.count()) ? Number(await badge.textContent()) : 0;
    await sendMessage(app, alice, conversationId, 'one');
    await sendMessage(app, alice, conversationId, 'two');
    await row.locator('[data-testid=unread]', { hasText: new RegExp(`^${initial + 2}$`) }).waitFor();
    await sendMessage(app, alice, conversationId, 'three');
    await row.locator('[data-testid=unread]', { hasText: new RegExp(`^${initial + 3}$`) }).waitFor();
    // Opening it reads it.
    await row.click();
    await row.locator('[data-testid=unread]').waitFor({ state: 'detached' });
    await page.context().close();
  }, 60_000);
});

describeInBrowser('the chat demo: replies, mentions and the unread badge', () => {
  it('badges an unread mention, highlights it, and shows a reply with what it answers', async () => {
    const [carol, dave] = await Promise.all([createUser(app, { handle: 'carol_ui' }), createUser(app, { handle: 'dave_ui' })]);
    const group = await openConversation(app, [carol, dave]);
    const [c, d] = await Promise.all([newPage(), newPage()]);
    await Promise.all([signIn(c, carol.user.handle, 'demo'), signIn(d, dave.user.handle, 'demo')]);
    await d.locator('[data-testid=unread-total]', { hasText: 'All read' }).waitFor();

    // Carol mentions Dave: his badge counts it, and the conversation is marked.
    const asked = await sendMessage(app, carol, group, 'Can you check the invoice @dave_ui?');
    await sendMessage(app, carol, group, 'No rush');
    await d.locator('[data-testid=unread-total][data-messages="2"][data-mentions="1"]').waitFor();
    const row = d.locator(`[data-testid=conversation][data-id="${group}"]`);
    await row.locator('[data-testid=mention]').waitFor();
    await row.locator('[data-testid=unread]', { hasText: /^2$/ }).waitFor();

    // Opening it reads it: the badge clears, and the message that mentions him stands out.
    await row.click();
    await d.locator('[data-testid=unread-total][data-messages="0"]').waitFor();
    await row.locator('[data-testid=mention]').waitFor({ state: 'detached' });
    const mentioned = d.locator('[data-testid=message][data-mentions-me=true]');
    await expect(mentioned.textContent()).resolves.toContain('Can you check the invoice @dave_ui?');
    expect(await d.locator('[data-testid=message][data-mentions-me]').count()).toBe(1);

    // Dave replies to that message; Carol sees the reply live, quoting it.
    await c.locator(`[data-testid=conversation][data-id="${group}"]`).click();
    await mentioned.locator('[data-testid=reply]').click();
    await d.locator('[data-testid=replying]', { hasText: 'Replying to @carol_ui: Can you check the invoice' }).waitFor();
    await d.fill('[data-testid=composer] input', 'Done, it is paid');
    await d.press('[data-testid=composer] input', 'Enter');
    const reply = c.locator('[data-testid=message]', { hasText: 'Done, it is paid' });
    await reply.waitFor();
    await expect(reply.locator('[data-testid=reply-to]').textContent()).resolves.toBe('@carol_ui: Can you check the invoice @dave_ui?');
    const stored = await app.services.dataSource.query(`SELECT reply_to_id FROM messages WHERE body = 'Done, it is paid'`);
    expect(stored).toEqual([{ reply_to_id: (await app.services.dataSource.query(`SELECT id FROM messages WHERE seq = $1 AND body LIKE 'Can you check%'`, [asked.seq]))[0].id }]);
    await d.screenshot({ path: path.join(SCREENSHOTS, 'demo-replies.png') });
    await Promise.all([c.context().close(), d.context().close()]);
  }, 60_000);
});

describeInBrowser('the chat demo after a lost connection', () => {
  it('reconnects on its own and shows what was sent meanwhile, once and in order', async () => {
    // The page reaches Parley through a proxy the test can cut, as a train tunnel would.
    const proxy = await startTcpProxy('127.0.0.1', Number(new URL(app.url).port));
    try {
      const page = await newPage();
      await signIn(page, bob.user.handle, 'demo', `http://127.0.0.1:${proxy.port}`);
      await page.locator(`[data-testid=conversation][data-id="${conversationId}"]`).click();
      await sendMessage(app, alice, conversationId, 'before the tunnel');
      await page.locator('[data-testid=message]', { hasText: 'before the tunnel' }).waitFor();

      await proxy.block();
      await page.locator('[data-testid=connection][data-state=reconnecting]').waitFor();
      await sendMessage(app, alice, conversationId, 'sent in the tunnel 1');
      await sendMessage(app, alice, conversationId, 'sent in the tunnel 2');
      await proxy.unblock();

      await page.locator('[data-testid=connection][data-state=connected]').waitFor({ timeout: 15_000 });
      await page.locator('[data-testid=message]', { hasText: 'sent in the tunnel 2' }).waitFor();
      const texts = await page.locator('[data-testid=message] .text').allTextContents();
      const tail = texts.slice(texts.indexOf('@alice_ui before the tunnel'));
      expect(tail).toEqual(['@alice_ui before the tunnel', '@alice_ui sent in the tunnel 1', '@alice_ui sent in the tunnel 2']);
      await page.context().close();
    } finally {
      await proxy.close();
    }
  }, 60_000);
});

describeInBrowser('the live dashboard at /dashboard', () => {
  it('refuses a non-ADMIN with a message saying so', async () => {
    const page = await newPage();
    await page.goto(`${base()}/dashboard`);
    await page.fill('input[name=login]', bob.user.handle);
    await page.fill('input[name=password]', DEFAULT_PASSWORD);
    await page.click('button[type=submit]');
    await page.locator('[role=alert]', { hasText: 'is not an ADMIN' }).waitFor();
    await page.context().close();
  });

  it('plots the metrics subscription, and its charts move while traffic flows', async () => {
    const admin = await createUser(app, { handle: 'ops_ui' });
    await setRole(app.services.dataSource, admin.user.handle, Role.ADMIN);
    const page = await newPage();
    await signIn(page, admin.user.handle, 'dashboard');
    const chart = page.locator('[data-testid=chart]').first();
    // The page's CSP refuses evaluated strings, so the test reads attributes and polls from here.
    const points = async () => Number(await chart.getAttribute('data-points'));
    await expectEventually(async () => expect(await points()).toBeGreaterThanOrEqual(2), { timeoutMs: 10_000 });
    const before = await points();
    for (let i = 0; i < 12; i++) await sendMessage(app, alice, conversationId, `traffic ${i}`);
    const tile = async (key: string) => Number((await page.locator(`[data-testid=tile-${key}]`).textContent())?.replace(/,/g, ''));
    await expectEventually(async () => expect(await tile('messagesPerMinute')).toBeGreaterThan(0), { timeoutMs: 15_000 });
    await expectEventually(async () => expect(await points()).toBeGreaterThan(before + 1), { timeoutMs: 10_000 });
    expect(await tile('connectedClients')).toBeGreaterThanOrEqual(1);
    await page.screenshot({ path: path.join(SCREENSHOTS, 'dashboard.png') });
    await page.context().close();
  }, 60_000);
});
