import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { COMMANDS, Command, appliesTo, commandSpec, commandsByCategory, keyLabel, keyTableMarkdown, visibleCommands } from './commands.js';
import { helpLines } from './help-lines.js';
import { commandForKey, keyName, keyNames } from './keys.js';
import { lineText } from '../../state/format.js';

const DOCS = fileURLToPath(new URL('../../../../../docs/console.md', import.meta.url));
const BEGIN = '<!-- keys:begin -->';
const END = '<!-- keys:end -->';

describe('the key table', () => {
  it('has exactly one entry per command, each with keys, a description and a category', () => {
    expect(COMMANDS.map((entry) => entry.id).sort()).toEqual(Object.values(Command).sort());
    for (const entry of COMMANDS) {
      expect(entry.keys.length, entry.id).toBeGreaterThan(0);
      expect(entry.description, entry.id).not.toBe('');
      expect(entry.id).toMatch(/^[a-z]+\.[a-zA-Z]+$/);
    }
    const keys = COMMANDS.flatMap((entry) => entry.keys);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('binds arrows and j/k, PgUp/PgDn, g/G, Tab, ?, q and Ctrl-C', () => {
    expect(commandForKey('up', 'pane')).toBe(Command.NavUp);
    expect(commandForKey('k', 'pane')).toBe(Command.NavUp);
    expect(commandForKey('j', 'pane')).toBe(Command.NavDown);
    expect(commandForKey('pageup', 'pane')).toBe(Command.NavPageUp);
    expect(commandForKey('pagedown', 'pane')).toBe(Command.NavPageDown);
    expect(commandForKey('g', 'pane')).toBe(Command.NavHome);
    expect(commandForKey('G', 'pane')).toBe(Command.NavEnd);
    expect(commandForKey('tab', 'global')).toBe(Command.FocusNext);
    expect(commandForKey('?', 'global')).toBe(Command.ViewHelp);
    expect(commandForKey('q', 'global')).toBe(Command.AppQuit);
    expect(commandForKey('ctrl+c', 'global')).toBe(Command.AppQuit);
    // A pane key is not a global key and vice versa
    expect(commandForKey('j', 'global')).toBeUndefined();
    expect(commandForKey('q', 'pane')).toBeUndefined();
  });

  it('marks failover dangerous, and hides it and every other workflow command in read-only mode', () => {
    expect(COMMANDS.filter((entry) => entry.dangerous).map((entry) => entry.id)).toEqual([Command.WorkflowFailover]);
    const readOnly = visibleCommands({ readOnly: true }).map((entry) => entry.id);
    expect(readOnly.filter((id) => id.startsWith('workflow.'))).toEqual([]);
    expect(readOnly).toContain(Command.NavDown);
    expect(readOnly).toContain(Command.AppQuit);
    expect(visibleCommands()).toEqual(COMMANDS);
  });

  it('binds the workflow keys, each offered only for the rows it acts on', () => {
    expect(commandForKey('m', 'global')).toBe(Command.WorkflowMigrate);
    expect(commandForKey('D', 'global')).toBe(Command.WorkflowDrain);
    expect(commandForKey('U', 'global')).toBe(Command.WorkflowUndrain);
    expect(commandForKey('R', 'global')).toBe(Command.WorkflowUndrainReturn);
    expect(commandForKey('F', 'global')).toBe(Command.WorkflowFailover);
    expect(commandForKey('B', 'global')).toBe(Command.WorkflowFailback);
    expect(commandForKey('w', 'global')).toBe(Command.WorkflowShow);
    // Read by the plan screen and the execution view, not by the App
    expect(commandForKey('return', 'pane')).toBe(Command.WorkflowRun);
    expect(commandForKey('a', 'pane')).toBe(Command.WorkflowAbort);
    expect(appliesTo(commandSpec(Command.WorkflowMigrate), 'vm')).toBe(true);
    expect(appliesTo(commandSpec(Command.WorkflowMigrate), 'node')).toBe(false);
    expect(appliesTo(commandSpec(Command.WorkflowFailover), 'site')).toBe(true);
    expect(appliesTo(commandSpec(Command.WorkflowFailover), undefined)).toBe(false);
    for (const entry of COMMANDS.filter((candidate) => candidate.category === 'Workflows' && candidate.id !== Command.WorkflowShow)) {
      expect(entry.changesCluster, entry.id).toBe(true);
    }
  });
});

describe('keyName', () => {
  it('normalises Ink keypresses to table key names', () => {
    expect(keyName('', { upArrow: true })).toBe('up');
    expect(keyName('', { upArrow: true, shift: true })).toBe('shift+up');
    expect(keyName('', { tab: true, shift: true })).toBe('shift+tab');
    expect(keyName('', { pageDown: true })).toBe('pagedown');
    expect(keyName('', { escape: true, meta: true })).toBe('escape');
    expect(keyName('c', { ctrl: true })).toBe('ctrl+c');
    expect(keyName('G', { shift: true })).toBe('G');
    expect(keyName('?', {})).toBe('?');
    expect(keyName('paste', {})).toBe('');
  });

  it('splits a run of plain characters into presses, but not control input', () => {
    expect(keyNames('jjG', {})).toEqual(['j', 'j', 'G']);
    expect(keyNames('', { downArrow: true })).toEqual(['down']);
    expect(keyNames('ab', { ctrl: true })).toEqual([]);
  });

  it('labels keys for people', () => {
    expect(['up', 'pageup', 'ctrl+c', 'shift+tab', 'G', 'escape'].map(keyLabel)).toEqual(['↑', 'PgUp', 'Ctrl-C', 'Shift-Tab', 'G', 'Esc']);
  });
});

describe('generated help and docs', () => {
  it('help lists every command under its category', () => {
    const text = helpLines().map(lineText).join('\n');
    for (const group of commandsByCategory()) expect(text).toContain(group.category);
    for (const entry of COMMANDS) {
      expect(text).toContain(entry.description);
      expect(text).toContain(entry.id);
    }
  });

  it('help greys the workflow commands that do not apply to the selection, and says what to select', () => {
    const onVm = helpLines({ selection: { kind: 'vm', name: 'web-1' } });
    const line = (id: string): string => onVm.map(lineText).find((text) => text.includes(id)) ?? '';
    expect(onVm.map(lineText).join('\n')).toContain('Workflows  for the selection: VM web-1');
    expect(line('workflow.migrate')).not.toContain('(select');
    expect(line('workflow.drain')).toContain('(select a node)');
    expect(line('workflow.failover')).toContain('(select a node or site)');
    const muted = onVm.find((entry) => lineText(entry).includes('workflow.drain'))?.segments.find((segment) => segment.text.startsWith('Drain'));
    expect(muted?.tone).toBe('muted');
    // Read-only help has no Workflows section at all
    expect(helpLines({ readOnly: true }).map(lineText).join('\n')).not.toContain('Workflows');
  });

  it('the Markdown key list has a row per command', () => {
    const markdown = keyTableMarkdown();
    for (const entry of COMMANDS) expect(markdown).toContain(`\`${entry.id}\``);
    expect(markdown).toContain('| `↑`, `k` | `nav.up` |');
    expect(markdown).toMatch(/\| `F` \| `workflow.failover` \| .*Selection: node or site\. \*\*Dangerous:\*\* asks for the target name first\. \|/);
  });

  it('docs/console.md contains the current keyTableMarkdown() output (HVCTL_UPDATE_DOCS=1 rewrites it)', () => {
    // Given the docs and the table
    let docs = readFileSync(DOCS, 'utf8');
    const generated = keyTableMarkdown();
    if (process.env['HVCTL_UPDATE_DOCS'] === '1') {
      const start = docs.indexOf(BEGIN);
      const end = docs.indexOf(END);
      expect(start, `docs/console.md needs ${BEGIN} and ${END} markers`).toBeGreaterThanOrEqual(0);
      docs = `${docs.slice(0, start + BEGIN.length)}\n${generated}${docs.slice(end)}`;
      writeFileSync(DOCS, docs);
    }

    // Then the docs embed it verbatim between the markers
    expect(docs, 'docs/console.md is out of date: run `HVCTL_UPDATE_DOCS=1 npx vitest run packages/console/src/ui/key`').toContain(
      `${BEGIN}\n${generated}${END}`,
    );
  });
});

describe('commands by role', () => {
  const ids = (role: 'viewer' | 'operator' | 'admin' | undefined): Command[] => visibleCommands({ role }).map((entry) => entry.id);

  it('offers a viewer no workflow, an operator every workflow but failover and failback, an admin all', () => {
    const workflows = COMMANDS.filter((entry) => entry.changesCluster).map((entry) => entry.id);
    expect(ids('viewer').filter((id) => workflows.includes(id))).toEqual([]);
    expect(ids('operator')).toContain(Command.WorkflowMigrate);
    expect(ids('operator')).toContain(Command.WorkflowDrain);
    expect(ids('operator')).not.toContain(Command.WorkflowFailover);
    expect(ids('operator')).not.toContain(Command.WorkflowFailback);
    expect(ids('admin')).toEqual(COMMANDS.map((entry) => entry.id));
    // Without a known identity (a plaintext lab) everything is offered; the agents decide.
    expect(ids(undefined)).toEqual(COMMANDS.map((entry) => entry.id));
  });

  it('marks every command that changes the cluster with the role it needs', () => {
    expect(COMMANDS.filter((entry) => entry.changesCluster && entry.needs === undefined).map((entry) => entry.id)).toEqual([]);
    expect(COMMANDS.filter((entry) => entry.dangerous).every((entry) => entry.needs === 'admin')).toBe(true);
  });

  it('leaves what an operator may not run out of the help', () => {
    const text = helpLines({ role: 'operator' }).map(lineText).join('\n');
    expect(text).toContain(commandSpec(Command.WorkflowDrain).description);
    expect(text).not.toContain(commandSpec(Command.WorkflowFailover).description);
  });
});
