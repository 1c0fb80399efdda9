import { checkTarget, isPrivateAddress, RefusedTarget } from './targets';

describe('webhook targets', () => {
  it.each([
    '127.0.0.1', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0',
    '224.0.0.1', '255.255.255.255', '::1', '::', 'fe80::1', 'fd00::1', 'fc00::1', 'ff02::1', '::ffff:127.0.0.1', '::ffff:10.0.0.1',
    '64:ff9b::7f00:1', '64:ff9b:1::a00:1', '2002:7f00:1::1', 'fec0::1', 'not an address',
  ])('refuses %s', (address) => {
    expect(isPrivateAddress(address)).toBe(true);
  });

  it.each(['93.184.216.34', '8.8.8.8', '172.32.0.1', '2606:4700::1111', '::ffff:8.8.8.8'])('lets %s through', (address) => {
    expect(isPrivateAddress(address)).toBe(false);
  });

  it.each([
    ['ftp://example.com/hook', 'url must be http or https, not ftp.'],
    ['file:///etc/passwd', 'url must be http or https, not file.'],
    ['https://user:secret@example.com/', 'url must not carry a user name or password.'],
    ['not a url', 'url "not a url" is not an absolute URL.'],
    ['http://127.0.0.1:8080/hook', 'host 127.0.0.1 resolves to 127.0.0.1, a private, loopback or link-local address.'],
    ['http://[::1]/hook', 'host ::1 resolves to ::1, a private, loopback or link-local address.'],
    ['http://localhost/hook', /^host localhost (does not resolve|resolves to 127\.0\.0\.1)/],
    ['http://169.254.169.254/latest/meta-data', 'host 169.254.169.254 resolves to 169.254.169.254'],
  ])('refuses %s when saved', async (url, message) => {
    const refusal = checkTarget(url, false);
    await expect(refusal).rejects.toBeInstanceOf(RefusedTarget);
    await expect(refusal).rejects.toThrow(message);
  });

  it('lets private targets through when allowed, but never another scheme', async () => {
    await expect(checkTarget('http://127.0.0.1:8080/hook', true)).resolves.toBeInstanceOf(URL);
    await expect(checkTarget('gopher://127.0.0.1/', true)).rejects.toBeInstanceOf(RefusedTarget);
  });
});
