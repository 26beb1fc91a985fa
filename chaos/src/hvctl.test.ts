import { describe, expect, it } from 'vitest';
import { parseHelpCommands, withLab } from './hvctl.js';

describe('parseHelpCommands', () => {
  it('lists the subcommands of a commander help text', () => {
    const help = ['Usage: hvctl lab fault [options] [command]', '', 'Options:', '  -h, --help   display help', '', 'Commands:', '  kill [options] <node>          kill -9 a node', '  fail-migrations [options] <node> [count]', '                                 continued description', '  help [command]   display help for command', ''].join('\n');
    expect(parseHelpCommands(help)).toEqual(['kill', 'fail-migrations', 'help']);
    expect(parseHelpCommands('Usage: x\n')).toEqual([]);
  });
});

describe('withLab', () => {
  it('points lab commands at the directory and the others at its cluster file', () => {
    expect(withLab(['lab', 'fault', 'kill', 'msk-1'], '/tmp/l')).toEqual(['lab', 'fault', 'kill', 'msk-1', '--dir', '/tmp/l']);
    expect(withLab(['status', '--json'], '/tmp/l')).toEqual(['--cluster', '/tmp/l/cluster.yaml', 'status', '--json']);
  });
});
