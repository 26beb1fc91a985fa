import { fakeClusterSnapshot, fakeLabStates } from '@hvctl/common/testing';
import { describe, expect, it } from 'vitest';
import { lineText } from '../../state/format.js';
import { buildRowModel } from '../../state/rows.js';
import { headerLines } from './header-lines.js';
import { topologyLine, vmColumns } from './topology-lines.js';

const NOW = 1_700_000_000_000;

/** The lab as the console sees it right after start: `connecting` have not answered yet, `down` refused. */
function startingModel(connecting: readonly string[], down: readonly string[]) {
  const snapshot = fakeClusterSnapshot(fakeLabStates(3, NOW), down);
  const nodes = snapshot.nodes.map((node) => (connecting.includes(node.name) ? { ...node, reachable: false, state: undefined, settled: false } : node));
  return buildRowModel({ ...snapshot, nodes }, NOW);
}

describe('header lines', () => {
  it('counts a node still connecting apart from the down ones, and lights ALERT only for down nodes', () => {
    // Given msk-1 and msk-2 have not answered yet
    const model = startingModel(['msk-1', 'msk-2'], []);
    const [first, second] = headerLines(model, undefined, 120).map(lineText);

    // Then the header warns, counts them as connecting, and the msk site is not SITE DOWN
    expect(first).toMatch(/ WARN {2}nodes 3 up, 0 down, 2 connecting/);
    expect(first).not.toMatch(/ALERT/);
    expect(second).toMatch(/msk-1 connecting · msk-2 connecting/);
    const site = lineText(topologyLine(model.rows[model.indexOf('site:msk')]!, model.widths, vmColumns(model.widths, 120), 120, NOW));
    expect(site).toMatch(/2 connecting$/);
    expect(site).not.toMatch(/DOWN/);
  });

  it('says ALERT and SITE DOWN once the nodes have failed', () => {
    // Given both msk nodes refused the connection
    const model = startingModel([], ['msk-1', 'msk-2']);
    const [first] = headerLines(model, undefined, 120).map(lineText);

    // Then
    expect(first).toMatch(/ ALERT {2}nodes 3 up, 2 down {2}/);
    const site = lineText(topologyLine(model.rows[model.indexOf('site:msk')]!, model.widths, vmColumns(model.widths, 120), 120, NOW));
    expect(site).toMatch(/SITE DOWN$/);
  });

  it('says ALERT when a VM intended running runs nowhere, with every node up', () => {
    // Given vm-msk-1-1 is intended running and shut off on both nodes of its pair (a host crash and reboot)
    const states = fakeLabStates(3, NOW);
    for (const state of states.values()) {
      for (const domain of state.domains.filter((d) => d.name === 'vm-msk-1-1')) {
        Object.assign(domain, { intent: 'DOMAIN_INTENT_RUNNING', intentSetUnixMs: 1, state: 'DOMAIN_STATE_SHUTOFF', stateChangedUnixMs: NOW - 3 * 60_000 });
      }
      state.announcements = state.announcements.filter((a) => a.vm !== 'vm-msk-1-1');
    }
    const [first, second] = headerLines(buildRowModel(fakeClusterSnapshot(states), NOW), undefined, 120).map(lineText);

    // Then the header is red and says which VM is down and for how long
    expect(first).toMatch(/ ALERT {2}nodes 5 up, 0 down/);
    expect(second).toMatch(/! vm-msk-1-1 intended running, down 3 min/);
  });
});
