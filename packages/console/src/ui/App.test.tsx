import { fakeLabStates } from '@hvctl/common/testing';
import { cleanup } from 'ink-testing-library';
import type { ReactElement } from 'react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { fakeLargeCluster } from '../state/testing/large-cluster.js';
import { App } from './App.js';
import type { ClusterSource } from './hooks/useClusterSnapshot.js';
import { COMMANDS } from './key/commands.js';
import { NOW, fakeSource, lab, renderAt, tick } from './testing/harness.js';

const app = (source: ClusterSource, now: () => number = () => NOW): ReactElement => <App source={source} now={now} readOnly={false} />;

afterEach(() => {
  cleanup();
  vi.useRealTimers();
});

describe('the console', () => {
  it('shows every node and VM of the lab in a 200x50 terminal, with the detail pane on the right', async () => {
    // Given the healthy lab
    const { frame } = await renderAt(app(fakeSource(lab())), 200, 50);

    // Then every node and every VM is on screen, and the header counts them
    const text = frame();
    for (const node of ['msk-1', 'msk-2', 'spb-1', 'spb-2', 'bak-1']) expect(text).toMatch(new RegExp(`● ${node}`));
    for (const home of ['msk-1', 'msk-2', 'spb-1', 'spb-2']) for (const i of [1, 2, 3]) expect(text).toContain(`vm-${home}-${i} running`);
    expect(text).toContain('nodes 5 up, 0 down');
    expect(text).toContain('VMs 12 running, 0 stopped');
    expect(text).toContain('all invariants hold');
    expect(text).toMatch(/bak-1 witness +12 backups, newest 1h00m ago/);
    expect(text).toMatch(/msk-1 up +BGP/);
    expect(text).toMatch(/Topology 1\/20.*│─ Detail/);
    expect(text).not.toContain('ALERT');
  });

  it('shows an unreachable spb-1 greyed with its last-known VMs, and why in the detail pane', async () => {
    // Given spb-1 unreachable for 42 s
    const { frame, press } = await renderAt(app(fakeSource(lab(['spb-1']))), 200, 50);
    expect(frame()).toMatch(/✖ spb-1 UNREACHABLE 42s/);
    expect(frame()).toContain('ALERT');
    expect(frame()).toContain('! spb-1 unreachable');

    // When the selection moves down to spb-1 (site msk, msk-1 + 3 VMs, msk-2 + 3 VMs, site spb, spb-1)
    const text = await press(...Array<string>(10).fill('j'));

    // Then the detail says for how long and why, and its VMs keep their last-known state
    expect(text).toContain('unreachable for 42 s: connection refused');
    expect(text).toContain('last known state:');
    expect(text).toMatch(/vm-spb-1-1 running/);
    expect(text).toContain('VMs 9 running, 0 stopped, 3 unknown');
  });

  it('counts the unreachable time up every second from the injected clock', async () => {
    // Given a clock the test moves, and only setInterval faked (Ink's own timers stay real)
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    let clock = NOW;
    const { frame } = await renderAt(app(fakeSource(lab(['spb-1'])), () => clock), 200, 50);
    expect(frame()).toContain('UNREACHABLE 42s');

    // When 5 s pass
    clock += 5000;
    vi.advanceTimersByTime(1000);
    await tick();

    // Then the counter moved without a new snapshot
    expect(frame()).toContain('UNREACHABLE 47s');
  });

  it('opens help with ? listing every command from the key table, and closes it with ? or Esc', async () => {
    // Given the console
    const { frame, press } = await renderAt(app(fakeSource(lab())), 200, 50);

    // When ? is pressed
    const help = await press('?');

    // Then every command is listed with its description
    for (const entry of COMMANDS) {
      expect(help).toContain(entry.description);
      expect(help).toContain(entry.id);
    }
    expect(help).not.toContain('Topology');

    // And ? closes it, as does Esc after reopening
    expect(await press('?')).toContain('Topology');
    await press('?');
    expect(await press('\u001B')).toContain('Topology');
    expect(frame()).not.toContain('nav.pageDown');
  });

  it('follows new snapshots and keeps the selection on the same node', async () => {
    // Given msk-2 selected
    const source = fakeSource(lab());
    const { frame, press } = await renderAt(app(source), 200, 50);
    expect(await press('j', 'j', 'j', 'j', 'j')).toMatch(/msk-2 +node at site msk/);

    // When spb-2 becomes unreachable
    source.publish(lab(['spb-2'], 2));
    await tick();

    // Then the topology shows it and the detail pane still describes msk-2
    expect(frame()).toMatch(/✖ spb-2 UNREACHABLE 42s/);
    expect(frame()).toMatch(/msk-2 +node at site msk/);
  });

  it('fits an 80x24 terminal: no line longer than 80 columns, at most 23 lines, every pane present', async () => {
    // Given a narrow terminal and a degraded cluster (long alert lines)
    const { frame, press } = await renderAt(app(fakeSource(lab(['spb-1', 'msk-2']))), 80, 24);

    // Then
    const check = (text: string): void => {
      const lines = text.split('\n');
      expect(lines.length).toBeLessThanOrEqual(23);
      for (const line of lines) expect([...line].length, line).toBeLessThanOrEqual(80);
    };
    const text = frame();
    check(text);
    expect(text).toContain('─ Topology');
    expect(text).toContain('─ Detail');
    expect(text).toContain('─ Events');
    expect(text).toContain('ALERT');

    // And the same holds with a VM selected, with help open, and with the detail pane hidden
    check(await press('j', 'j'));
    check(await press('?'));
    check(await press('G'));
    await press('?');
    const hidden = await press('d');
    check(hidden);
    expect(hidden).not.toContain('─ Detail');
  });

  it('scrolls the event log back with [ and shows events of every node, prefixed with the node', async () => {
    // Given 10 log entries on msk-1 and a 3-line log pane
    const states = fakeLabStates(3, NOW);
    states.get('msk-1')!.log = Array.from({ length: 10 }, (_, i) => ({ timeUnixMs: NOW - 10_000 + i * 1000, level: i === 9 ? 'error' : 'info', message: `event number ${i}`, area: 'drbd' }));
    const { frame, press } = await renderAt(app(fakeSource(lab([], 1, states))), 80, 24);
    expect(frame()).toMatch(/msk-1 drbd +event number 9/);
    expect(frame()).not.toContain('event number 6');

    // When scrolled back three lines
    const text = await press('[', '[', '[');

    // Then older entries show and the newest is below the window
    expect(text).toContain('event number 6');
    expect(text).not.toContain('event number 9');
    expect(text).toContain('(3 newer below)');
  });

  it('takes fast typing delivered as one chunk as several presses', async () => {
    const { press } = await renderAt(app(fakeSource(lab())), 200, 50);
    expect(await press('jjj')).toContain('Topology 4/20');
  });

  it('moves the focus with Tab so that j scrolls the detail pane instead of the selection', async () => {
    const { frame, press } = await renderAt(app(fakeSource(lab())), 80, 24);
    await press('j');
    expect(frame()).toContain('Topology 2/20');
    const before = frame();
    await press('\t', 'j', 'j');
    expect(frame()).toContain('Topology 2/20');
    expect(frame()).not.toBe(before);
    expect(frame()).toMatch(/Detail 3-/);
  });

  it('draws only the visible window of a 4,000-VM cluster and jumps to the end with G', async () => {
    // Given 100 nodes x 40 VMs in a 120x40 terminal
    const { frame, press } = await renderAt(app(fakeSource(fakeLargeCluster({ nowMs: NOW }))), 120, 40);
    const vmLines = (text: string): number => text.split('\n').filter((line) => / vm-(msk|spb)-\d+-\d+ /.test(line)).length;
    const first = frame();
    expect(first).toContain('Topology 1/4104');
    expect(vmLines(first)).toBeLessThan(40);

    // When jumping to the end
    const end = await press('G');

    // Then the last node's last VM is drawn, and still only a window of rows
    expect(end).toContain('Topology 4104/4104');
    expect(end).toMatch(/› +● bak-1 +witness/);
    expect(end).toContain('vm-spb-50-40');
    expect(vmLines(end)).toBeLessThan(40);
  });
});
