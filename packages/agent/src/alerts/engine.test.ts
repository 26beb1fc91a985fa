import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AlertEngine } from './engine.js';
import type { Alert, AlertCondition } from './types.js';

const down = (node: string, seconds = 31): AlertCondition => ({ rule: 'node-unreachable', subject: node, severity: 'critical', summary: `${node} unreachable for ${seconds} s` });
const degraded: AlertCondition = { rule: 'resource-degraded', subject: 'web-1', severity: 'warning', summary: 'web-1 degraded' };

describe('AlertEngine', () => {
  let dir: string;
  let clock: number;
  let notified: Alert[];
  const engine = (): AlertEngine =>
    new AlertEngine({ statePath: join(dir, 'alerts.json'), cluster: 'lab', watcher: 'bak-1', resolveAfterMs: 5000, now: () => clock, notify: (alert) => notified.push(alert) });
  const statuses = (): string[] => notified.map((alert) => `${alert.status} ${alert.id}`);

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hvctl-alerts-'));
    clock = 1_000_000;
    notified = [];
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('fires once per rule and subject however often the condition is seen', () => {
    const alerts = engine();
    // Given the same condition on every evaluation (its text changing), twice in one batch too
    alerts.evaluate([down('msk-1', 31), down('msk-1', 31)]);
    clock += 1000;
    alerts.evaluate([down('msk-1', 32), degraded]);
    clock += 1000;
    alerts.evaluate([down('msk-1', 33), degraded]);
    // Then each alert was sent once, and the firing set carries the latest text
    expect(statuses()).toEqual(['firing node-unreachable/msk-1', 'firing resource-degraded/web-1']);
    expect(notified[0]).toMatchObject({ severity: 'critical', cluster: 'lab', watcher: 'bak-1', startsAtUnixMs: 1_000_000, endsAtUnixMs: 0 });
    expect(alerts.firing().find((alert) => alert.subject === 'msk-1')?.summary).toBe('msk-1 unreachable for 33 s');
  });

  it('resolves once after the condition has been clear for the hold time', () => {
    const alerts = engine();
    alerts.evaluate([down('msk-1')]);
    clock += 1000;
    alerts.evaluate([]);
    clock += 4000;
    alerts.evaluate([]);
    expect(statuses()).toEqual(['firing node-unreachable/msk-1']);
    clock += 1000;
    alerts.evaluate([]);
    clock += 1000;
    alerts.evaluate([]);
    expect(statuses()).toEqual(['firing node-unreachable/msk-1', 'resolved node-unreachable/msk-1']);
    expect(notified[1]).toMatchObject({ startsAtUnixMs: 1_000_000, endsAtUnixMs: 1_006_000 });
    expect(alerts.firing()).toEqual([]);
  });

  it('does not notify while a condition flaps faster than the hold time', () => {
    const alerts = engine();
    for (let i = 0; i < 10; i += 1) {
      alerts.evaluate(i % 2 === 0 ? [down('msk-1')] : []);
      clock += 2000;
    }
    expect(statuses()).toEqual(['firing node-unreachable/msk-1']);
    // Once it stays away, it resolves; a later return is a new alert
    for (let i = 0; i < 4; i += 1) {
      alerts.evaluate([]);
      clock += 2000;
    }
    alerts.evaluate([down('msk-1')]);
    expect(statuses()).toEqual(['firing node-unreachable/msk-1', 'resolved node-unreachable/msk-1', 'firing node-unreachable/msk-1']);
  });

  it('fires a rule with a hold time only once the condition held that long', () => {
    const alerts = new AlertEngine({
      statePath: join(dir, 'alerts.json'),
      cluster: 'lab',
      watcher: 'bak-1',
      resolveAfterMs: 5000,
      fireAfterMs: { 'resource-degraded': 10_000 },
      now: () => clock,
      notify: (alert) => notified.push(alert),
    });
    // Given a degraded resource that recovers after 6 s (a resync), then one that stays degraded
    alerts.evaluate([degraded]);
    clock += 6000;
    alerts.evaluate([]);
    clock += 1000;
    alerts.evaluate([degraded]);
    clock += 9000;
    alerts.evaluate([degraded]);
    expect(statuses()).toEqual([]);
    clock += 1000;
    alerts.evaluate([degraded]);
    // Then it fired once, dated from when it was first seen in this stretch
    expect(statuses()).toEqual(['firing resource-degraded/web-1']);
    expect(notified[0]?.startsAtUnixMs).toBe(1_007_000);
  });

  it('does not re-fire after a restart, and resolves what cleared meanwhile', async () => {
    const first = engine();
    first.evaluate([down('msk-1'), degraded]);
    await first.flushed();
    // Given a restarted watcher that still sees msk-1 down but web-1 healthy again
    notified = [];
    const second = engine();
    await second.load();
    clock += 1000;
    second.evaluate([down('msk-1')]);
    clock += 5000;
    second.evaluate([down('msk-1')]);
    // Then only the resolve is sent, keeping the original start time
    expect(statuses()).toEqual(['resolved resource-degraded/web-1']);
    expect(notified[0]?.startsAtUnixMs).toBe(1_000_000);
    expect(second.firing().map((alert) => alert.id)).toEqual(['node-unreachable/msk-1']);
  });
});
