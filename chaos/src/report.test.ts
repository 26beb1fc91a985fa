import { describe, expect, it } from 'vitest';
import { roundLine, summaryLines, type CampaignResult, type RoundRecord } from './report.js';

const round: RoundRecord = {
  round: 2,
  durationMs: 12_340,
  events: [
    { event: 'kill msk-2', kind: 'fault', name: 'kill', argv: 'lab fault kill msk-2', outcome: 'ok', durationMs: 800 },
    { event: 'failover --node msk-2', kind: 'op', name: 'failover', argv: 'failover --node msk-2 --yes', outcome: 'ok', durationMs: 4000 },
    { event: 'restart msk-2', kind: 'recovery', name: 'restart', argv: 'lab fault restart msk-2', outcome: 'ok', durationMs: 1500 },
  ],
  findings: { round: [], recovered: [{ rule: 'vm-twice', subject: 'dns-1', message: 'dns-1 runs on msk-2 and spb-2', severity: 'violation' }] },
};

const result: CampaignResult = {
  seed: 11,
  roundsRequested: 2,
  roundsPlayed: 2,
  inPlay: ['kill', 'failover'],
  lab: { dir: '/tmp/x', vms: 12 },
  durationMs: 30_000,
  faultsByType: { kill: 1 },
  opsByType: { failover: 1 },
  workflowsByOutcome: { succeeded: 1 },
  violationsByRule: { 'vm-twice': 1 },
  infoByRule: {},
  checks: 4,
  rounds: [{ ...round, round: 1, findings: { round: [], recovered: [] } }, round],
  violations: [
    {
      seed: 11,
      round: 2,
      phase: 'recovered',
      rule: 'vm-twice',
      subject: 'dns-1',
      message: 'dns-1 runs on msk-2 and spb-2',
      history: ['hvctl lab fault kill msk-2 -> ok', 'hvctl failover --node msk-2 --yes -> ok', 'recovery: hvctl lab fault restart msk-2 -> ok'],
      previous: ['r1: kill msk-2=ok'],
    },
  ],
  replay: 'npm run chaos -- --seed 11 --rounds 2 --vms 12',
};

describe('report', () => {
  it('prints one line per round with its events, outcomes and findings', () => {
    expect(roundLine(round, 10)).toBe('round 2/10 12.3 s: kill msk-2 ok · failover --node msk-2 ok | after round: ok | recovery (1 action(s)): 1 VIOLATION(S) [vm-twice dns-1]');
  });

  it('summarises the counts and prints each violation with its seed, round, history and the replay command', () => {
    const text = summaryLines(result).join('\n');
    expect(text).toContain('seed 11: 2 of 2 round(s) in 30.0 s');
    expect(text).toContain('faults: kill 1');
    expect(text).toContain('workflows by outcome: succeeded 1');
    expect(text).toContain('violations: 1 (vm-twice 1)');
    expect(text).toContain('seed 11 round 2, after recovery: 1 violation(s)\n  VIOLATION [vm-twice] dns-1: dns-1 runs on msk-2 and spb-2\n  history:\n    hvctl lab fault kill msk-2 -> ok');
    expect(text).toContain('earlier: r1: kill msk-2=ok');
    expect(text).toContain('replay: npm run chaos -- --seed 11 --rounds 2 --vms 12');
  });
});
