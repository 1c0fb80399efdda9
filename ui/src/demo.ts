import type { ParleyClient } from '@parley/client';
import { ApiError, connect, request, session, signIn, subscribe, type Viewer } from './api';
import { field, h, say } from './dom';
import './style.css';

/**
 * The chat demo: sign in, the inbox with unread counts and mention markers (live), the unread badge
 * over everything (me.unreadTotal, then each inboxUpdates' own), one conversation's messages with
 * replies and mentions, typing and presence (live), and resume after a reconnect from the last event
 * seen (the client helper does that). Every operation it runs is one of operations/*.graphql, sent by
 * its persisted-query id.
 */

interface Member {
  id: string;
  handle: string;
  online: boolean;
}
interface Summary {
  id: string;
  kind: string;
  status: string;
  title: string | null;
  lastSeq: number;
  unreadCount: number;
  unreadMentionCount: number;
  lastMessage: { body: string | null; author: { handle: string } | null } | null;
  members: { edges: { node: Member }[] };
}
interface Message {
  id: string;
  seq: number;
  body: string | null;
  clientMessageId: string | null;
  createdAt: string;
  deletedAt: string | null;
  author: { id: string; handle: string; displayName: string } | null;
  mentions?: { id: string; handle: string }[];
  replyTo?: { id: string; body: string | null; deletedAt: string | null; author: { handle: string } | null } | null;
}
interface UnreadTotal {
  conversations: number;
  messages: number;
  mentions: number;
}
interface ConversationEvent {
  __typename: string;
  /** Stored events have one; ephemeral ones (typing, read receipts) are null. */
  seq: number | null;
  message?: Partial<Message> & { id: string };
  user?: { id: string; handle: string };
  typing?: boolean;
  status?: string;
}

let viewer: Viewer | undefined;
let client: ParleyClient | undefined;
let conversations: Summary[] = [];
let open: OpenConversation | undefined;
let stopInbox: (() => void) | undefined;
/** The header's badge: unread messages over every conversation, and whether any mentions the viewer. */
const totalBadge = h('span', { class: 'total', 'data-testid': 'unread-total' });

function showTotal(total: UnreadTotal | null | undefined): void {
  if (!total) return;
  totalBadge.textContent = total.messages > 0 ? `${total.messages} unread${total.mentions > 0 ? ` · ${total.mentions} @` : ''}` : 'All read';
  totalBadge.dataset.messages = String(total.messages);
  totalBadge.dataset.mentions = String(total.mentions);
}

const root = document.getElementById('app')!;

function nameOf(conversation: Summary): string {
  if (conversation.title) return conversation.title;
  const others = conversation.members.edges.map((e) => e.node).filter((m) => m.id !== viewer?.id);
  return others.map((m) => `@${m.handle}`).join(', ') || 'Just you';
}

/** Back to the sign-in form: the socket, the open conversation and the token go. */
function signOut(): void {
  session.token = null;
  open?.close();
  open = undefined;
  stopInbox?.();
  stopInbox = undefined;
  void client?.dispose();
  client = undefined;
  signInView();
}

function signInView(): void {
  const form = h(
    'form',
    { class: 'card', 'data-testid': 'sign-in' },
    h('h1', {}, 'Parley demo'),
    h('label', {}, 'Handle or e-mail', h('input', { name: 'login', autocomplete: 'username', required: true })),
    h('label', {}, 'Password', h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true })),
    h('details', {}, h('summary', {}, 'New here? Sign up'), h('label', {}, 'E-mail', h('input', { name: 'email', type: 'email' })), h('label', {}, 'Display name', h('input', { name: 'displayName' }))),
    h('button', { type: 'submit' }, 'Continue'),
    h('p', { id: 'status', role: 'alert' }),
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const email = field(form, 'email');
    try {
      viewer = await signIn(field(form, 'login'), field(form, 'password'), email ? { email, displayName: field(form, 'displayName') || field(form, 'login') } : undefined);
      await chatView();
    } catch (error) {
      say(error instanceof Error ? error.message : String(error));
    }
  });
  root.replaceChildren(form);
}

async function chatView(): Promise<void> {
  const state = h('span', { class: 'connection', 'data-testid': 'connection' }, 'connecting');
  client ??= connect(
    (s) => {
      state.textContent = s;
      state.dataset.state = s;
    },
    () => signOut(),
    // What changed while the socket was down and is not replayed: the inbox, and who is online.
    (refetch) => {
      if (refetch.inbox) void refreshInbox();
      if (open && refetch.presence.includes(open.id)) void open.refreshPresence();
    },
  );
  const start = h(
    'form',
    { class: 'start', 'data-testid': 'start-conversation' },
    h('input', { name: 'handle', placeholder: 'Chat with @handle', required: true }),
    h('button', { type: 'submit' }, 'Start'),
  );
  start.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      const handle = field(start, 'handle').replace(/^@/, '');
      const found = await request<{ users: { edges: { node: { id: string; handle: string } }[] } }>('FindUsers', { search: handle, first: 10 });
      const user = found.users.edges.map((e) => e.node).find((u) => u.handle.toLowerCase() === handle.toLowerCase());
      if (!user) return say(`No user @${handle}.`);
      const created = await request<{ createConversation: { id: string } }>('CreateConversation', { input: { kind: 'DIRECT', memberIds: [user.id] } });
      start.reset();
      await refreshInbox();
      openConversation(created.createConversation.id);
    } catch (error) {
      say(error instanceof Error ? error.message : String(error));
    }
  });
  const signOutButton = h('button', { type: 'button', class: 'link', onclick: () => signOut() }, 'Sign out');
  root.replaceChildren(
    h(
      'div',
      { class: 'chat' },
      h('header', {}, h('strong', {}, 'Parley'), h('span', { 'data-testid': 'viewer' }, `@${viewer!.handle}`), totalBadge, state, signOutButton),
      h('aside', {}, start, h('ul', { id: 'inbox', 'data-testid': 'inbox' })),
      h('section', { id: 'conversation' }, h('p', { class: 'hint' }, 'Pick a conversation, or start one with a handle.')),
      h('p', { id: 'status', role: 'alert' }),
    ),
  );
  // The badge as of now; each inbox update then carries it.
  void request<{ me: { unreadTotal: UnreadTotal | null } | null }>('Me').then((data) => showTotal(data.me?.unreadTotal), () => undefined);
  await refreshInbox();
  stopInbox = subscribe<{ inboxUpdates: { unreadTotal: UnreadTotal } }>(
    client,
    'InboxUpdates',
    {},
    (data) => {
      showTotal(data.inboxUpdates.unreadTotal);
      void refreshInbox();
    },
    (error) => say(error.message),
  );
}

let inboxTimer: ReturnType<typeof setTimeout> | undefined;
/** Reloads the inbox; bursts of inbox updates are coalesced into one reload. */
function refreshInbox(): Promise<void> {
  clearTimeout(inboxTimer);
  return new Promise((resolve) => {
    inboxTimer = setTimeout(async () => {
      try {
        const data = await request<{ conversations: { edges: { node: Summary }[] } }>('ConversationList', { first: 50 });
        conversations = data.conversations.edges.map((e) => e.node);
        renderInbox();
      } catch (error) {
        if (error instanceof ApiError && error.code === 'UNAUTHENTICATED') return signInView();
        say(error instanceof Error ? error.message : String(error));
      }
      resolve();
    }, 50);
  });
}

function renderInbox(): void {
  const list = document.getElementById('inbox');
  if (!list) return;
  list.replaceChildren(
    ...conversations.map((c) =>
      h(
        'li',
        { 'data-testid': 'conversation', 'data-id': c.id, class: c.id === open?.id ? 'active' : '', onclick: () => openConversation(c.id) },
        h('span', { class: 'name' }, nameOf(c)),
        h(
          'span',
          { class: 'badges' },
          c.unreadMentionCount > 0 ? h('span', { class: 'badge mention', 'data-testid': 'mention', title: 'You were mentioned' }, '@') : null,
          c.unreadCount > 0 ? h('span', { class: 'badge', 'data-testid': 'unread' }, String(c.unreadCount)) : null,
        ),
        h('small', {}, c.lastMessage?.body ?? ''),
      ),
    ),
  );
}

function openConversation(id: string): void {
  open?.close();
  open = new OpenConversation(id);
  renderInbox();
}

/** One open conversation: its last page of messages, then live events resumed from the last seq seen. */
class OpenConversation {
  private readonly messages = new Map<string, Message>();
  private readonly typing = new Map<string, { handle: string; timer: ReturnType<typeof setTimeout> }>();
  private readonly online = new Map<string, boolean>();
  /** The last stored seq shown: what markRead reports. */
  private lastSeq = 0;
  private readonly stops: (() => void)[] = [];
  private readonly list = h('ol', { class: 'messages', 'data-testid': 'messages' });
  private readonly typingLine = h('p', { class: 'typing', 'data-testid': 'typing' });
  private readonly presenceLine = h('p', { class: 'presence', 'data-testid': 'presence' });
  /** The message the next one answers, if the viewer clicked Reply. */
  private replyingTo: Message | undefined;
  private readonly replyLine = h('p', { class: 'replying', 'data-testid': 'replying' });
  private typingSent = false;
  private typingIdle: ReturnType<typeof setTimeout> | undefined;
  private readTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(readonly id: string) {
    const composer = h('form', { class: 'composer', 'data-testid': 'composer' }, h('input', { name: 'body', placeholder: 'Write a message', autocomplete: 'off', maxlength: '4000' }), h('button', { type: 'submit' }, 'Send'));
    composer.addEventListener('submit', (event) => {
      event.preventDefault();
      void this.send(composer);
    });
    composer.addEventListener('input', () => this.typed());
    const summary = conversations.find((c) => c.id === id);
    for (const edge of summary?.members.edges ?? []) this.online.set(edge.node.handle, edge.node.online);
    document.getElementById('conversation')!.replaceChildren(h('h2', {}, summary ? nameOf(summary) : 'Conversation'), this.presenceLine, this.list, this.typingLine, this.replyLine, composer);
    this.renderPresence();
    void this.load();
  }

  private async load(): Promise<void> {
    try {
      const data = await request<{ conversation: { lastSeq: number; messages: { edges: { node: Message }[] } } | null }>('ConversationMessages', { id: this.id, last: 50 });
      if (!data.conversation || open !== this) return;
      this.messages.clear();
      for (const { node } of data.conversation.messages.edges) this.messages.set(node.id, node);
      this.lastSeq = data.conversation.lastSeq;
      this.render();
      this.markRead();
      if (this.stops.length === 0) {
        // Live from the page's lastSeq on; after a reconnect the helper resumes from the last event received.
        const variables = { conversationId: this.id, afterSeq: this.lastSeq };
        this.stops.push(subscribe<{ conversationEvents: ConversationEvent }>(client!, 'ConversationEvents', variables, (d) => this.apply(d.conversationEvents), (e) => say(e.message)));
        this.stops.push(subscribe<{ presence: { online: boolean; user: { handle: string } } }>(client!, 'Presence', { conversationId: this.id }, (d) => this.presence(d.presence), (e) => say(e.message)));
        // The subscription only reports changes: whoever came online while it was being set up is
        // read again once it surely is (and after every reconnect, see chatView).
        setTimeout(() => void this.refreshPresence(), 1_000);
      }
    } catch (error) {
      say(error instanceof Error ? error.message : String(error));
    }
  }

  private apply(event: ConversationEvent): void {
    if (event.__typename === 'ResyncRequired') return void this.load();
    if (event.__typename === 'TypingChanged') return this.showTyping(event.user!, event.typing!);
    // Ephemeral events other than typing (read receipts) change nothing this page shows.
    if (event.seq === null) return;
    // The helper passes each stored event once, in order: no seq bookkeeping here.
    this.lastSeq = event.seq;
    if (event.message) {
      const known = this.messages.get(event.message.id);
      if (known || event.__typename === 'MessageAdded') this.messages.set(event.message.id, { ...(known as Message), ...(event.message as Message) });
      if (event.__typename === 'MessageAdded' && event.message.author) this.showTyping(event.message.author, false);
    }
    this.render();
    this.markRead();
  }

  /** Members' online state as the server has it now. */
  async refreshPresence(): Promise<void> {
    const data = await request<{ conversation: { members: { edges: { node: { handle: string; online: boolean } }[] } } | null }>('ConversationMembers', { id: this.id, first: 50 }).catch(() => null);
    if (!data?.conversation || open !== this) return;
    for (const { node } of data.conversation.members.edges) this.online.set(node.handle, node.online);
    this.renderPresence();
  }

  private presence({ online, user }: { online: boolean; user: { handle: string } }): void {
    this.online.set(user.handle, online);
    this.renderPresence();
  }

  private renderPresence(): void {
    const others = [...this.online].filter(([handle]) => handle !== viewer?.handle);
    this.presenceLine.replaceChildren(...others.map(([handle, online]) => h('span', { class: online ? 'online' : 'offline', 'data-handle': handle }, `@${handle} ${online ? 'online' : 'offline'}`)));
  }

  private showTyping(user: { id: string; handle: string }, typing: boolean): void {
    if (user.id === viewer?.id) return;
    clearTimeout(this.typing.get(user.id)?.timer);
    this.typing.delete(user.id);
    // A typing flag that is never cleared (the typist's tab closed) fades after a few seconds.
    if (typing) this.typing.set(user.id, { handle: user.handle, timer: setTimeout(() => this.showTyping(user, false), 6_000) });
    const names = [...this.typing.values()].map((t) => `@${t.handle}`);
    this.typingLine.textContent = names.length ? `${names.join(', ')} ${names.length > 1 ? 'are' : 'is'} typing…` : '';
  }

  private render(): void {
    const sorted = [...this.messages.values()].sort((a, b) => a.seq - b.seq);
    this.list.replaceChildren(
      ...sorted.map((m) => {
        const mentionsMe = m.mentions?.some((user) => user.id === viewer?.id) ?? false;
        return h(
          'li',
          {
            'data-testid': 'message',
            'data-seq': String(m.seq),
            'data-mentions-me': mentionsMe ? 'true' : undefined,
            class: [m.author?.id === viewer?.id ? 'mine' : '', mentionsMe ? 'mention' : ''].join(' ').trim(),
          },
          m.replyTo ? h('blockquote', { 'data-testid': 'reply-to' }, `@${m.replyTo.author?.handle ?? 'deleted'}: `, m.replyTo.deletedAt ? h('i', {}, 'deleted') : (m.replyTo.body ?? '')) : null,
          h('span', { class: 'text' }, h('b', {}, m.author ? `@${m.author.handle}` : 'Deleted user'), ' ', m.deletedAt ? h('i', {}, 'deleted') : (m.body ?? '')),
          m.deletedAt ? null : h('button', { type: 'button', class: 'link reply', 'data-testid': 'reply', onclick: () => this.replyTo(m) }, 'Reply'),
        );
      }),
    );
    this.list.lastElementChild?.scrollIntoView({ block: 'end' });
  }

  private replyTo(message: Message | undefined): void {
    this.replyingTo = message;
    this.replyLine.replaceChildren(
      ...(message
        ? [`Replying to @${message.author?.handle ?? 'deleted'}: ${message.body ?? ''} `, h('button', { type: 'button', class: 'link', onclick: () => this.replyTo(undefined) }, 'Cancel')]
        : []),
    );
  }

  private typed(): void {
    if (!this.typingSent) {
      this.typingSent = true;
      void request('SetTyping', { conversationId: this.id, typing: true }).catch(() => undefined);
    }
    clearTimeout(this.typingIdle);
    this.typingIdle = setTimeout(() => this.stopTyping(), 3_000);
  }

  private stopTyping(): void {
    clearTimeout(this.typingIdle);
    if (!this.typingSent) return;
    this.typingSent = false;
    void request('SetTyping', { conversationId: this.id, typing: false }).catch(() => undefined);
  }

  private async send(form: HTMLFormElement): Promise<void> {
    const body = field(form, 'body');
    if (!body) return;
    // The same clientMessageId on a retry: the server stores the message once.
    const clientMessageId = crypto.randomUUID();
    const replyToId = this.replyingTo?.id ?? null;
    form.reset();
    this.replyTo(undefined);
    this.stopTyping();
    for (let attempt = 0; ; attempt++) {
      try {
        const { sendMessage } = await request<{ sendMessage: Message }>('SendMessage', { input: { conversationId: this.id, body, clientMessageId, replyToId } });
        if (!this.messages.has(sendMessage.id)) this.messages.set(sendMessage.id, sendMessage);
        return this.render();
      } catch (error) {
        // A network failure or an outage is retried with the same key; a refusal is shown.
        const retryable = !(error instanceof ApiError) || error.code === 'SERVICE_UNAVAILABLE' || error.code === 'INTERNAL_SERVER_ERROR';
        if (!retryable || attempt >= 4) return say(error instanceof Error ? error.message : String(error));
        await new Promise((resolve) => setTimeout(resolve, 500 * 2 ** attempt));
      }
    }
  }

  private markRead(): void {
    clearTimeout(this.readTimer);
    this.readTimer = setTimeout(() => {
      if (open === this && this.lastSeq > 0) void request('MarkRead', { conversationId: this.id, seq: this.lastSeq }).then(() => refreshInbox(), () => undefined);
    }, 300);
  }

  close(): void {
    this.stopTyping();
    clearTimeout(this.readTimer);
    for (const stop of this.stops.splice(0)) stop();
    for (const { timer } of this.typing.values()) clearTimeout(timer);
  }
}

async function boot(): Promise<void> {
  if (!session.token) return signInView();
  try {
    viewer = (await request<{ me: Viewer | null }>('Me')).me ?? undefined;
  } catch {
    viewer = undefined;
  }
  if (!viewer) {
    session.token = null;
    return signInView();
  }
  await chatView();
}

void boot();
