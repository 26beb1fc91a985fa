import { Text } from 'ink';
import { fit } from '../../state/format.js';

export interface PaneTitleProps {
  readonly title: string;
  /** Right of the title: position, counts. */
  readonly info?: string;
  readonly focused: boolean;
  readonly width: number;
}

/** A one-line pane heading, `─ Topology 3/20 ─────`; bright when the pane has the focus. */
export function PaneTitle({ title, info, focused, width }: PaneTitleProps) {
  const label = `─ ${title}${info ? ` ${info}` : ''} `;
  const text = fit(label + '─'.repeat(Math.max(0, width - [...label].length)), width);
  return (
    <Text wrap="truncate-end" bold={focused} {...(focused ? { color: 'cyan' } : { dimColor: true })}>
      {text}
    </Text>
  );
}
