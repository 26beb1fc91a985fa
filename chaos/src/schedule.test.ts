import { describe, expect, it } from 'vitest';
import { FAULT_NAMES, FAULTS, OPS, type LabModel, type LiveLab } from './catalogue.js';
import { buildSchedule, describeEvent, selectKinds } from './schedule.js';

const model: LabModel = {
  nodes: ['msk-1', 'msk-2', 'spb-1', 'spb-2', 'bak-1'],
  mainNodes: ['msk-1', 'msk-2', 'spb-1', 'spb-2'],
  sites: ['msk', 'spb', 'bak'],
  mainSites: ['msk', 'spb'],
  vms: ['web-1', 'db-1', 'mail-1', 'git-1'],
  disks: [
    { node: 'msk-1', resource: 'web-1' },
    { node: 'spb-1', resource: 'web-1' },
    { node: 'spb-2', resource: 'git-1' },
  ],
};
const everything = (): boolean => true;
const live: LiveLab = { deadNodes: [], cutSites: [], runningWorkflows: [], orphanedWorkflows: [], failedDiskResources: [] };

describe('buildSchedule', () => {
  const kinds = selectKinds(FAULT_NAMES, everything);

  it('draws the same events from the same seed, and other events from another seed', () => {
    const a = buildSchedule(model, { seed: 1, rounds: 20, kinds });
    expect(buildSchedule(model, { seed: 1, rounds: 20, kinds })).toEqual(a);
    expect(buildSchedule(model, { seed: 2, rounds: 20, kinds })).not.toEqual(a);
  });

  it('keeps the first rounds when more rounds are asked (a long run replays a short one)', () => {
    const short = buildSchedule(model, { seed: 5, rounds: 3, kinds });
    expect(buildSchedule(model, { seed: 5, rounds: 30, kinds }).slice(0, 3)).toEqual(short);
  });

  it('mixes every fault and operator action over enough rounds, with targets from the lab', () => {
    const events = buildSchedule(model, { seed: 3, rounds: 200, kinds }).flat();
    expect(new Set(events.map((event) => event.name))).toEqual(new Set([...FAULTS, ...OPS].map((kind) => kind.name)));
    for (const event of events.filter((event) => event.name === 'agent-kill')) expect(model.mainNodes).toContain(event.args[0]);
    for (const event of events.filter((event) => event.name === 'cli-kill')) expect(event.killAfterMs).toBeGreaterThanOrEqual(200);
    for (const events_ of buildSchedule(model, { seed: 3, rounds: 200, kinds })) {
      expect(events_.length).toBeGreaterThanOrEqual(2);
      expect(events_.length).toBeLessThanOrEqual(5);
    }
  });

  it('uses only the faults asked for and the commands the CLI has', () => {
    // Given a CLI without `failback` and `start`, and only kill and cut asked for
    const kinds_ = selectKinds(['kill', 'cut'], (path) => !['failback', 'start'].includes(path[0] ?? ''));
    const names = new Set(buildSchedule(model, { seed: 4, rounds: 100, kinds: kinds_ }).flat().map((event) => event.name));
    expect(names.has('kill') && names.has('cut')).toBe(true);
    for (const absent of ['failback', 'start', 'heal', 'disk', 'agent-kill']) expect(names.has(absent)).toBe(false);
    expect(() => selectKinds(['kill', 'flood'], everything)).toThrow(/unknown fault flood/);
  });

  it('describes an event in one short line', () => {
    expect(describeEvent({ kind: 'fault', name: 'cli-kill', args: ['drain', 'msk-2'], pick: 0, pauseMs: 0, background: false, killAfterMs: 1200 })).toBe('cli-kill drain msk-2 @1200ms');
    expect(describeEvent({ kind: 'op', name: 'undrain', args: ['spb-1', ''], pick: 0, pauseMs: 0, background: true })).toBe('undrain spb-1 (bg)');
  });
});

describe('the catalogue resolves events on the live lab', () => {
  const byName = (name: string) => [...FAULTS, ...OPS].find((kind) => kind.name === name)!;
  const event = (name: string, args: string[], pick = 0) => ({ kind: byName(name).kind, name, args, pick, pauseMs: 0, background: false });

  it('heals and restarts only what is cut or down, chosen by the drawn pick', () => {
    expect(byName('heal').resolve(event('heal', []), live)).toEqual({ skip: 'no site is cut' });
    expect(byName('heal').resolve(event('heal', [], 3), { ...live, cutSites: ['msk', 'spb'] })).toMatchObject({ argv: ['lab', 'fault', 'heal', 'spb'] });
    expect(byName('restart').resolve(event('restart', [], 2), { ...live, deadNodes: ['msk-1', 'spb-2'] })).toMatchObject({ argv: ['lab', 'fault', 'restart', 'msk-1'] });
    expect(byName('kill').resolve(event('kill', ['msk-1']), { ...live, deadNodes: ['msk-1'] })).toEqual({ skip: 'msk-1 is already down' });
  });

  it('never fails the second copy of a resource (that is data loss, not a control-plane fault)', () => {
    expect(byName('disk').resolve(event('disk', ['spb-1', 'web-1']), { ...live, failedDiskResources: ['web-1'] })).toEqual({ skip: 'a disk of web-1 already failed' });
    expect(byName('disk').resolve(event('disk', ['spb-1', 'web-1']), live)).toMatchObject({ argv: ['lab', 'fault', 'disk', 'spb-1', 'web-1'] });
  });

  it('aborts and resumes only workflows that exist', () => {
    expect(byName('abort').resolve(event('abort', []), live)).toEqual({ skip: 'no workflow is running' });
    expect(byName('resume').resolve(event('resume', [], 1), { ...live, orphanedWorkflows: ['wf-a', 'wf-b'] })).toMatchObject({ argv: ['resume', 'wf-b'] });
  });

  it('kills a CLI mid-workflow after the drawn delay', () => {
    expect(byName('cli-kill').resolve({ ...event('cli-kill', ['drain', 'msk-2']), killAfterMs: 700 }, live)).toMatchObject({ argv: ['drain', 'msk-2', '--yes'], killAfterMs: 700 });
  });
});
