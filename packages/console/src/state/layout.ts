/** Terminals at least this wide show the detail pane to the right of the topology. */
export const WIDE_COLUMNS = 120;

export interface PaneBox {
  readonly width: number;
  /** Content lines, not counting the pane's title line. */
  readonly height: number;
}

/** Where every pane goes for one terminal size. Pure, so it is tested without rendering. */
export interface Layout {
  readonly width: number;
  /** Lines the console draws: one less than the terminal, so Ink never has to clear the screen. */
  readonly height: number;
  readonly headerHeight: number;
  /** The footer line at the bottom: running workflows and the keys for the selection. */
  readonly footerHeight: number;
  /** Detail pane to the right (wide) or below the topology (narrow). */
  readonly wide: boolean;
  readonly topology: PaneBox;
  /** Undefined while the detail pane is hidden. */
  readonly detail: PaneBox | undefined;
  readonly log: PaneBox;
  /** The area the help, the plan screen and the execution view cover (between header and footer). */
  readonly overlay: PaneBox;
}

export const HEADER_HEIGHT = 2;
export const FOOTER_HEIGHT = 1;
const TITLE = 1;

/**
 * Splits the terminal: header on top, the footer line at the bottom with the event log
 * above it (3 lines, more on tall terminals), the topology in the middle with the detail pane right of it from
 * WIDE_COLUMNS on, else below it.
 */
export function computeLayout(columns: number, rows: number, detailVisible: boolean): Layout {
  const width = Math.max(20, columns);
  const height = Math.max(8, rows - 1);
  const logLines = height <= 30 ? 3 : Math.min(12, Math.floor(height * 0.2));
  const body = Math.max(2, height - HEADER_HEIGHT - FOOTER_HEIGHT - (TITLE + logLines));
  const wide = width >= WIDE_COLUMNS;
  const log: PaneBox = { width, height: logLines };
  const overlay: PaneBox = { width, height: height - HEADER_HEIGHT - FOOTER_HEIGHT - TITLE };
  const fixed = { width, height, headerHeight: HEADER_HEIGHT, footerHeight: FOOTER_HEIGHT, wide, log, overlay };
  // A short narrow terminal has no room for a second pane below the topology.
  if (!detailVisible || (!wide && body < 8)) {
    return { ...fixed, topology: { width, height: body - TITLE }, detail: undefined };
  }
  if (wide) {
    const detailWidth = Math.min(90, Math.max(48, Math.floor(width * 0.42)));
    // One column between the panes for the separator.
    return { ...fixed, topology: { width: width - detailWidth - 1, height: body - TITLE }, detail: { width: detailWidth, height: body - TITLE } };
  }
  const detailPane = Math.min(14, Math.max(4, Math.floor(body * 0.4)));
  return { ...fixed, topology: { width, height: Math.max(1, body - detailPane - TITLE) }, detail: { width, height: Math.max(1, detailPane - TITLE) } };
}
