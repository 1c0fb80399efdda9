import { hashPassword, verifyAgainstNothing, verifyPassword } from './passwords';

describe('passwords', () => {
  it('verifies the password it hashed and no other', async () => {
    const hash = await hashPassword('correct horse battery');
    expect(hash).toMatch(/^scrypt\$16384\$8\$1\$[\w-]+\$[\w-]+$/);
    await expect(verifyPassword('correct horse battery', hash)).resolves.toBe(true);
    await expect(verifyPassword('correct horse batterY', hash)).resolves.toBe(false);
  });

  it('salts every hash', async () => {
    expect(await hashPassword('same password')).not.toBe(await hashPassword('same password'));
  });

  it('never matches a malformed hash', async () => {
    await expect(verifyPassword('anything', 'plain-text')).resolves.toBe(false);
    await expect(verifyPassword('anything', 'scrypt$16384$8$1$$')).resolves.toBe(false);
  });

  it('spends a verification when there is no user', async () => {
    await expect(verifyAgainstNothing('whatever')).resolves.toBe(false);
  });
});
