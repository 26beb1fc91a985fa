import { Box } from 'ink';
import type { RowModel } from '../../state/rows.js';
import { SegmentLine } from '../components/SegmentLine.js';
import { headerLines } from './header-lines.js';

export interface HeaderProps {
  readonly model: RowModel;
  readonly title: string | undefined;
  readonly width: number;
}

/** Cluster name and counts, then the alerts (a down node, a broken invariant). */
export function Header({ model, title, width }: HeaderProps) {
  const [first, second] = headerLines(model, title, width);
  return (
    <Box flexDirection="column" width={width} height={2} flexShrink={0}>
      <SegmentLine line={first} width={width} />
      <SegmentLine line={second} width={width} />
    </Box>
  );
}
