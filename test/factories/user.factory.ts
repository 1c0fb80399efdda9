import { randomBytes } from 'node:crypto';
import type { App } from '../../src/app';
import type { User } from '../../src/entities/user.entity';
import { createAccount, type NewAccount } from '../../src/services/accounts';

export const DEFAULT_PASSWORD = 'correct horse battery staple';

/** A signed-up user and a token for them, made through the same service as `signUp`. */
export async function createUser(app: Pick<App, 'services'>, overrides: Partial<NewAccount> = {}): Promise<{ user: User; token: string }> {
  const suffix = randomBytes(4).toString('hex');
  const user = await createAccount(app.services.dataSource, {
    handle: `user_${suffix}`,
    displayName: `User ${suffix}`,
    email: `user_${suffix}@example.com`,
    password: DEFAULT_PASSWORD,
    ...overrides,
  });
  return { user, token: await app.services.tokens.issue(user.id) };
}
