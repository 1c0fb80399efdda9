import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { createLoaders, type Loaders } from './loaders';
import type { Logger } from './observability/logger';
import type { TokenService } from './security/jwt';
import type { CursorCodec } from './pagination/cursor';
import type { PresenceStore } from './subscriptions/presence';

/** The signed-in user, as far as the token says. Roles are loaded fresh when a check needs them. */
export interface Viewer {
  id: string;
}

/** Long-lived collaborators the composition root hands to every request. */
export interface Services {
  dataSource: DataSource;
  tokens: TokenService;
  presence: PresenceStore;
  cursors: CursorCodec;
  logger: Logger;
}

export interface Context {
  requestId: string;
  viewer: Viewer | null;
  loaders: Loaders;
  services: Services;
  logger: Logger;
}

export function createContext(services: Services, viewer: Viewer | null, requestId: string = randomUUID()): Context {
  return {
    requestId,
    viewer,
    loaders: createLoaders(services, viewer?.id ?? null),
    services,
    logger: services.logger.child({ requestId, viewerId: viewer?.id }),
  };
}
