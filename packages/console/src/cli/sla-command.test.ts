import { describe, expect, it } from 'vitest';
import type { GetReportResponse__Output } from '@hvctl/proto';
import { labClusterFile } from '@hvctl/common/testing';
import { formatSlaReport, watcherNodes } from './sla-command.js';

const report: GetReportResponse__Output = {
  month: '2026-10',
  nowUnixMs: Date.UTC(2026, 10, 2),
  final: true,
  rule: { guaranteePercent: 99.5, creditMinutesPerMinuteShort: 2, maintenance: 'exclude', unknown: 'down' },
  vms: [
    {
      vm: 'web-1',
      site: 'msk',
      minutesInMonth: 44_640,
      minutes: { up: 44_310, down: 300, maintenance: 0, stopped: 0, unknown: 30, untracked: 0, future: 0 },
      countedMinutes: 44_640,
      downMinutes: 330,
      availabilityPercent: 99.26075,
      allowedDownMinutes: 223.2,
      minutesShort: 107,
      creditMinutes: 214,
      budgetLeftMinutes: -106.8,
    },
  ],
  sites: [{ site: 'msk', vms: 1, countedMinutes: 44_640, downMinutes: 330, maintenanceMinutes: 0, unknownMinutes: 30, availabilityPercent: 99.26075, minutesShort: 107, creditMinutes: 214 }],
  gaps: [{ startUnixMs: Date.UTC(2026, 9, 20), endUnixMs: Date.UTC(2026, 9, 20, 0, 30) }],
  watcher: 'bak-1',
};

describe('hvctl sla', () => {
  it('asks the nodes of the backup sites', () => {
    expect(watcherNodes(labClusterFile()).map((node) => node.name)).toEqual(['bak-1']);
  });

  it('prints the rule, each VM and site with its minutes short and credit, and the watcher gaps', () => {
    const text = formatSlaReport(report);
    expect(text).toContain('SLA 2026-10 (final), measured by bak-1');
    expect(text).toContain('rule: 99.5% a month, 2 min of credit per minute short; maintenance excluded; unobserved time counted as down');
    const webRow = text.split('\n').find((line) => line.startsWith('web-1'));
    expect(webRow?.split(/\s+/)).toEqual(['web-1', 'msk', '99.2608%', '330.0', '0', '30.0', '223.2', '107', '214.0']);
    expect(text).toContain('watcher gaps: 2026-10-20T00:00:00.000Z for 30.0 min');
  });
});
