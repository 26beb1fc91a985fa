import { fit, seg, type Line } from '../../state/format.js';
import { commandsByCategory, keyLabel, visibleCommands } from './commands.js';

const KEYS_WIDTH = 18;

/** The help overlay's lines, generated from the key table (dangerous commands hidden in read-only mode). */
export function helpLines(options: { readonly readOnly?: boolean } = {}): readonly Line[] {
  const lines: Line[] = [];
  for (const group of commandsByCategory(visibleCommands(options))) {
    if (lines.length > 0) lines.push({ segments: [] });
    lines.push({ segments: [seg(group.category, 'accent', true)] });
    for (const entry of group.commands) {
      lines.push({
        segments: [
          seg(`  ${fit(entry.keys.map(keyLabel).join(' '), KEYS_WIDTH)} `, 'normal', true),
          seg(entry.description, entry.dangerous ? 'bad' : 'normal'),
          seg(entry.dangerous ? '  (asks for confirmation)' : '', 'bad'),
          seg(`  ${entry.id}`, 'muted'),
        ],
      });
    }
  }
  return lines;
}
