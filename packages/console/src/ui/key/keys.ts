import type { Key } from 'ink';
import { COMMANDS, type Command, type CommandScope } from './commands.js';

/** The subset of Ink's Key that keyName reads (lets tests build keys by hand). */
export type KeyFlags = Partial<
  Pick<
    Key,
    'upArrow' | 'downArrow' | 'leftArrow' | 'rightArrow' | 'pageUp' | 'pageDown' | 'home' | 'end' | 'return' | 'escape' | 'ctrl' | 'shift' | 'tab' | 'backspace' | 'delete' | 'meta'
  >
>;

const NAMED: readonly [keyof KeyFlags, string][] = [
  ['upArrow', 'up'],
  ['downArrow', 'down'],
  ['leftArrow', 'left'],
  ['rightArrow', 'right'],
  ['pageUp', 'pageup'],
  ['pageDown', 'pagedown'],
  ['home', 'home'],
  ['end', 'end'],
  ['tab', 'tab'],
  ['return', 'return'],
  ['backspace', 'backspace'],
  ['delete', 'delete'],
  ['escape', 'escape'],
];

/**
 * Normalises one Ink keypress into the key-name form the table uses: `j`, `G`, `?`,
 * `up`, `shift+tab`, `ctrl+c`. Returns '' for input that is not a single key (a paste).
 */
export function keyName(input: string, key: KeyFlags): string {
  for (const [flag, name] of NAMED) {
    if (!key[flag]) continue;
    if (key.ctrl) return `ctrl+${name}`;
    if (key.shift && name !== 'escape') return `shift+${name}`;
    return name;
  }
  if (key.ctrl && input.length === 1) return `ctrl+${input.toLowerCase()}`;
  if (input === ' ') return 'space';
  return [...input].length === 1 ? input : '';
}

/**
 * The key names in one Ink input event. A terminal delivers a run of plain characters typed
 * fast (key repeat, `tmux send-keys jjj`) as one event; each character counts as a press.
 */
export function keyNames(input: string, key: KeyFlags): readonly string[] {
  const name = keyName(input, key);
  if (name) return [name];
  if (key.ctrl || key.meta || input.includes('\u001B')) return [];
  return [...input].map((char) => keyName(char, {})).filter((entry) => entry !== '');
}

const INDEX: ReadonlyMap<string, { readonly command: Command; readonly scope: CommandScope }> = (() => {
  const index = new Map<string, { command: Command; scope: CommandScope }>();
  for (const entry of COMMANDS) {
    for (const key of entry.keys) {
      if (index.has(key)) throw new Error(`key ${key} is bound twice (${index.get(key)?.command} and ${entry.id})`);
      index.set(key, { command: entry.id, scope: entry.scope });
    }
  }
  return index;
})();

/** The command bound to a key name in the given scope, if any. */
export function commandForKey(name: string, scope: CommandScope): Command | undefined {
  const found = INDEX.get(name);
  return found && found.scope === scope ? found.command : undefined;
}
