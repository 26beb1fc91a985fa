import { describe, expect, it } from 'vitest';
import { parseAgentConfig } from '../config.js';
import { parseMonitorConfig } from './config.js';

const fail = (message: string): never => {
  throw new Error(message);
};

describe('monitor config', () => {
  it('is absent unless configured, and takes documented defaults', () => {
    expect(parseMonitorConfig(undefined, fail)).toBeUndefined();
    expect(parseMonitorConfig({}, fail)).toMatchObject({
      enabled: true,
      rpoTargetSeconds: 60,
      nodeUnreachableAfterSeconds: 30,
      resourceDegradedAfterSeconds: 10,
      backupMaxAgeSeconds: 26 * 3600,
      slaAtRiskMinutes: 60,
      resolveAfterSeconds: 10,
      hooks: [],
      sla: { guaranteePercent: 99.5, creditMinutesPerMinuteShort: 2, maintenance: 'exclude', unknown: 'down' },
    });
  });

  it('accepts argv and URL hooks, and refuses shell strings, relative tools and other schemes', () => {
    const hooks = parseMonitorConfig({ hooks: [{ command: ['/usr/bin/logger', '-t', 'hvctl'] }, { url: 'https://alerts.example.net/x', timeoutMs: 2000 }] }, fail)?.hooks;
    expect(hooks).toEqual([
      { command: ['/usr/bin/logger', '-t', 'hvctl'], timeoutMs: 10_000 },
      { url: 'https://alerts.example.net/x', timeoutMs: 2000 },
    ]);
    expect(() => parseMonitorConfig({ hooks: [{ command: 'page-oncall --now' }] }, fail)).toThrow(/shell string is not accepted/);
    expect(() => parseMonitorConfig({ hooks: [{ command: ['page-oncall'] }] }, fail)).toThrow(/absolute path/);
    expect(() => parseMonitorConfig({ hooks: [{ url: 'file:///etc/passwd' }] }, fail)).toThrow(/http or https/);
    expect(() => parseMonitorConfig({ sla: { unknown: 'maybe' } }, fail)).toThrow(/monitor\.sla\.unknown/);
  });

  it('reads declared maintenance windows next to the SLA rule', () => {
    const config = parseMonitorConfig({ sla: { maintenance: 'exclude', maintenanceWindows: [{ from: '2026-11-20T02:00:00Z', to: '2026-11-20T04:00:00Z', site: 'msk', reason: 'switch firmware' }] } }, fail);
    expect(config?.maintenanceWindows).toEqual([{ startMs: Date.UTC(2026, 10, 20, 2), endMs: Date.UTC(2026, 10, 20, 4), site: 'msk', reason: 'switch firmware' }]);
    expect(config?.sla.maintenance).toBe('exclude');
    expect(parseMonitorConfig({}, fail)?.maintenanceWindows).toEqual([]);
    expect(() => parseMonitorConfig({ sla: { maintenanceWindows: [{ from: '2026-11-20T02:00:00Z', to: '2026-11-20T04:00:00Z' }] } }, fail)).toThrow(/monitor\.sla\.maintenanceWindows\[0\] needs exactly one of vms, nodes or site/);
  });

  it('is read from agent.yaml', () => {
    const config = parseAgentConfig(
      { node: 'bak-1', site: 'bak', listen: '127.0.0.1:7405', drivers: { drbd: 'real', kvm: 'real', routing: 'real', backup: 'sim', host: 'real' }, sim: { link: '127.0.0.1:7505' }, monitor: { nodeUnreachableAfterSeconds: 5 } },
      '/etc/hvctl/agent.yaml',
    );
    expect(config.monitor).toMatchObject({ enabled: true, nodeUnreachableAfterSeconds: 5 });
    expect(() => parseAgentConfig({ node: 'bak-1', site: 'bak', listen: '127.0.0.1:7405', monitor: { evaluateEveryMs: 1 } }, '/x/agent.yaml')).toThrow(/monitor\.evaluateEveryMs/);
  });
});
