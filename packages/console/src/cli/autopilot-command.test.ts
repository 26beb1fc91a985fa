import { describe, expect, it } from 'vitest';
import type { AutopilotServiceExplainResponse__Output, AutopilotServiceGetStatusResponse__Output } from '@hvctl/proto';
import { formatAutopilotExplain, formatAutopilotStatus, parseDuration } from './autopilot-command.js';

const NOW = Date.UTC(2026, 11, 8, 1, 0, 0);

const decision = (overrides: Partial<AutopilotServiceGetStatusResponse__Output['decisions'][number]> = {}): AutopilotServiceGetStatusResponse__Output['decisions'][number] => ({
  kind: 'node',
  subject: 'msk-1',
  outcome: 'wait',
  code: 'lost',
  summary: 'msk-1 lost 4 s: witness lost it (db-1, web-1), partner spb-1 lost it, spb-1 has quorum; failover in 1 s',
  evidence: ['agent of msk-1: does not answer bak-1', 'witness bak-1 DRBD: db-1 Connecting, web-1 Connecting', 'partner spb-1 DRBD: db-1 Connecting, web-1 Connecting'],
  countdownMs: 1000,
  lostForMs: 4000,
  decidedUnixMs: NOW,
  sinceUnixMs: NOW - 4000,
  ...overrides,
});

describe('hvctl autopilot', () => {
  it('parses pause durations and refuses bad ones', () => {
    expect(parseDuration('90s')).toBe(90);
    expect(parseDuration('30m')).toBe(1800);
    expect(parseDuration('2h')).toBe(7200);
    expect(parseDuration('1d')).toBe(86_400);
    expect(parseDuration('45')).toBe(45);
    for (const bad of ['0', '2w', '-1h', '31d', 'soon', '']) expect(() => parseDuration(bad)).toThrow(/expected a duration/);
  });

  it('prints the mode, the policy, the countdowns first, and the recent actions', () => {
    const status: AutopilotServiceGetStatusResponse__Output = {
      watcher: 'bak-1',
      policy: { mode: 'act', graceSeconds: 5, maxFailoversPerSitePerHour: 2, restartWindowMinutes: 10, holdDownSeconds: 30 },
      mode: 'act',
      modeSetBy: 'cluster file',
      pauses: [{ subject: 'spb-2', untilUnixMs: 0, by: 'alice', sinceUnixMs: NOW - 60_000 }],
      decisions: [decision({ subject: 'msk-2', outcome: 'none', code: 'healthy', summary: 'msk-2 answers', countdownMs: 0, lostForMs: 0, sinceUnixMs: NOW - 600_000 }), decision()],
      actions: [{ kind: 'failover', subject: 'spb-1', site: 'spb', atUnixMs: NOW - 3_600_000, workflowId: 'wf-1', coordinator: 'msk-1', outcome: 'succeeded', detail: 'RPO 0' }],
      canSubmit: ['failover'],
      nowUnixMs: NOW,
      watching: ['msk-1', 'msk-2'],
    };
    const text = formatAutopilotStatus(status);
    expect(text).toContain('autopilot on bak-1: mode act (from the cluster file), paused for spb-2 until resumed (by alice at 2026-12-08T00:59:00Z)');
    expect(text).toContain('policy: grace 5 s, at most 2 failovers per site per hour, one restart per VM per 10 min, hold-down 30 s; never --force, never fails back');
    expect(text).toContain('watching: msk-1, msk-2; can submit: failover (start: not until the agents run a start workflow)');
    // The countdown comes first
    expect(text.indexOf('failover in 1 s')).toBeLessThan(text.indexOf('msk-2 answers'));
    expect(text).toMatch(/recent actions:\n.*\n2026-12-08T00:00:00Z +failover +spb-1 +msk-1 +wf-1 +succeeded +RPO 0/);
  });

  it('explains a node with the last decision, the evidence, the timings and what came before', () => {
    const explained: AutopilotServiceExplainResponse__Output = {
      decision: decision({ outcome: 'act', code: 'fail-over', summary: 'msk-1 lost 5 s: …; failing over msk-1 now', countdownMs: 0, lostForMs: 5000 }),
      history: [decision({ outcome: 'wait', sinceUnixMs: NOW - 5000 }), decision({ outcome: 'act', code: 'fail-over' })],
      actions: [],
      mode: 'act',
      pause: null,
    };
    const text = formatAutopilotExplain('msk-1', explained, NOW);
    expect(text).toContain('msk-1 (autopilot mode act)');
    expect(text).toContain('outcome act (fail-over) since 2026-12-08T00:59:56Z (4 s ago)');
    expect(text).toContain('lost for 5 s');
    expect(text).toContain('evidence:\n  agent of msk-1: does not answer bak-1\n  witness bak-1 DRBD: db-1 Connecting, web-1 Connecting');
    expect(text).toContain('before that:\n  2026-12-08T00:59:55Z wait: msk-1 lost 4 s');
  });
});
