import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

/**
 * deploy/prometheus/alerts.yml through Debian's promtool (package `prometheus`): the rules load, and
 * each alert fires on what it names, after its `for`, and not on its look-alikes
 * (alerts.test.yml). Skipped without promtool unless REQUIRE_PROMTOOL=1 (as in .ci/run).
 */
const PROMTOOL = '/usr/bin/promtool';
const available = existsSync(PROMTOOL);
if (!available && process.env.REQUIRE_PROMTOOL === '1') throw new Error(`REQUIRE_PROMTOOL=1 but there is no promtool at ${PROMTOOL} (apt-get install -y prometheus)`);
const describeWithPromtool = available ? describe : describe.skip;
const rules = path.resolve(__dirname, '../deploy/prometheus');

describeWithPromtool('the Prometheus alert rules', () => {
  const promtool = (...args: string[]) => promisify(execFile)(PROMTOOL, args, { cwd: rules });

  it('pass promtool check rules', async () => {
    const { stdout } = await promtool('check', 'rules', 'alerts.yml');
    expect(stdout).toMatch(/SUCCESS: \d+ rules found/);
  });

  it('pass their unit tests (promtool test rules)', async () => {
    // promtool exits non-zero on a failed case, and execFile then rejects with its output.
    const { stdout } = await promtool('test', 'rules', 'alerts.test.yml');
    expect(stdout).toMatch(/SUCCESS/);
  });

  it('have a unit test for every alert', () => {
    const alerts = [...readFileSync(path.join(rules, 'alerts.yml'), 'utf8').matchAll(/^\s+- alert: (\w+)$/gm)].map(([, name]) => name);
    const tested = new Set([...readFileSync(path.join(rules, 'alerts.test.yml'), 'utf8').matchAll(/alertname: (\w+)$/gm)].map(([, name]) => name));
    expect(alerts.length).toBeGreaterThan(10);
    expect(alerts.filter((name) => !tested.has(name))).toEqual([]);
  });
});
