import { describe, expect, it } from 'vitest';
import { computeLayout, type Layout } from './layout.js';

/** Lines used: header, footer, and each pane's title and content. */
const used = (layout: Layout): number =>
  layout.headerHeight + layout.footerHeight + (layout.topology.height + 1) + (layout.detail && !layout.wide ? layout.detail.height + 1 : 0) + (layout.log.height + 1);

describe('computeLayout', () => {
  it('fits an 80x24 terminal: detail below the topology, 3 log lines, one line spare', () => {
    const layout = computeLayout(80, 24, true);
    expect(layout).toMatchObject({ width: 80, height: 23, wide: false, log: { height: 3 } });
    expect(layout.detail?.width).toBe(80);
    expect(used(layout)).toBe(23);
    expect(layout.topology.height).toBeGreaterThanOrEqual(8);
  });

  it('puts the detail pane on the right from 120 columns and gives tall terminals more list and log', () => {
    const layout = computeLayout(200, 50, true);
    expect(layout.wide).toBe(true);
    expect(layout.topology.width + 1 + (layout.detail?.width ?? 0)).toBe(200);
    expect(layout.detail?.height).toBe(layout.topology.height);
    expect(layout.log.height).toBeGreaterThan(3);
    expect(used(layout)).toBe(49);
    expect(layout.topology.height).toBeGreaterThan(computeLayout(80, 24, true).topology.height);
  });

  it('gives the topology everything when the detail pane is hidden', () => {
    const layout = computeLayout(80, 24, false);
    expect(layout.detail).toBeUndefined();
    expect(used(layout)).toBe(23);
  });

  it('drops the detail pane on a short narrow terminal rather than overflowing', () => {
    const layout = computeLayout(80, 12, true);
    expect(layout.detail).toBeUndefined();
    expect(used(layout)).toBe(layout.height);
  });
});
