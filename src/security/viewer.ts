/** The signed-in user, as far as the token says. Roles are loaded fresh when a check needs them. */
export interface Viewer {
  id: string;
  /** When the token that named this viewer expires (ms since the epoch); a WebSocket is closed then. */
  tokenExpiresAt?: number;
  /** When the user last signed in, as the token says (ms since the epoch): `auth_time`, else `iat`. */
  authenticatedAt?: number;
  /** The own-account session the token belongs to (`sid`): signOut revokes it. */
  sessionId?: string;
}
