import { createParleyClient, type ParleyClient } from '@parley/client';
import { print } from 'graphql';
import { ConversationEvents, type ConversationEvent } from './documents';

/** What the application does when the socket cannot carry on by itself. */
export interface ConnectionHooks {
  /** The token was refused (4403: expired, signed out, account erased): a fresh one, or null to stop. */
  signInAgain(): Promise<string | null>;
  /** More events were missed than the server replays, or a subscription could not resume: show the latest page again. */
  reloadHistory(conversationId: string): void;
  /** inboxUpdates replays nothing: read the inbox again after a reconnect. */
  readInboxAgain(): void;
  /** Presence replays nothing: read who is online again after a reconnect. */
  readPresenceAgain(conversationId: string): void;
}

/** Without Apollo: the helper on its own, one socket for the app. */
export function connectParley(url: string, token: () => string | null, hooks: ConnectionHooks, webSocketImpl?: unknown): ParleyClient {
  return createParleyClient({
    url,
    token,
    webSocketImpl,
    onAuthExpired: () => hooks.signInAgain(),
    onResync: ({ conversationId }) => conversationId && hooks.reloadHistory(conversationId),
    onReconnected: ({ inbox, presence, conversations }) => {
      if (inbox) hooks.readInboxAgain();
      presence.forEach((conversationId) => hooks.readPresenceAgain(conversationId));
      conversations.forEach((conversationId) => hooks.reloadHistory(conversationId));
    },
  });
}

/**
 * Follows a conversation from `lastSeq` (the `lastSeq` of the history page shown): every stored event
 * after it, in order and each once, across reconnects; typing and read receipts as they come.
 */
export function followConversation(parley: ParleyClient, conversationId: string, lastSeq: number, onEvent: (event: ConversationEvent) => void, onError: (error: unknown) => void): () => void {
  return parley.subscribe<{ conversationEvents: ConversationEvent }>(
    { query: print(ConversationEvents), variables: { conversationId, afterSeq: lastSeq } },
    {
      next: ({ data, errors }) => (errors ? onError(errors) : data && onEvent(data.conversationEvents)),
      error: onError,
      complete: () => undefined,
    },
  );
}
