import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ResticFormatError, parseBackupLine, parseForget, parseResticVersion, parseSnapshots, tagValue } from './parse-restic.js';

const fixture = (name: string): string => readFileSync(new URL(`./__fixtures__/${name}`, import.meta.url), 'utf8');

describe('restic 0.14 --json (captured on a temporary repository)', () => {
  it('backup: status lines (fraction, omitted zero fields) then the summary with a short id', () => {
    const messages = fixture('backup-json.captured.jsonl').split('\n').map(parseBackupLine).filter((message) => message !== undefined);
    expect(messages[0]).toEqual({ type: 'status', percentDone: 0, totalFiles: 1, filesDone: 0, totalBytes: 6, bytesDone: 0, secondsElapsed: 0, secondsRemaining: 0, errorCount: 0 });
    expect(messages[1]).toMatchObject({ type: 'status', percentDone: 0.9456651086697827, bytesDone: 2837001, totalBytes: 3000006 });
    expect(messages.at(-1)).toEqual({
      type: 'summary',
      snapshotId: '8b444b40',
      filesNew: 2,
      filesChanged: 0,
      filesUnmodified: 0,
      dataAdded: 3002318,
      totalFilesProcessed: 2,
      totalBytesProcessed: 3000006,
      totalDurationSeconds: 0.316646253,
      dryRun: false,
    });
  });

  it('backup: a missing source path is a text line on stderr, not JSON', () => {
    expect(parseBackupLine(fixture('backup-json-missing-path.captured.stderr').split('\n')[0]!)).toBeUndefined();
  });

  it('backup: error lines (Go error objects of 0.14, message of newer versions), exit_error, scan_finished', () => {
    expect(parseBackupLine('{"message_type":"error","error":{},"during":"scan","item":"/tmp/rdata/locked"}')).toEqual({ type: 'error', item: '/tmp/rdata/locked', during: 'scan', message: '' });
    expect(parseBackupLine('{"message_type":"error","error":{"Op":"open","Path":"/tmp/rdata/noread","Err":13},"during":"archival","item":"/tmp/rdata/noread"}')).toMatchObject({
      message: 'open /tmp/rdata/noread: errno 13',
    });
    expect(parseBackupLine('{"message_type":"error","error":{"message":"permission denied"},"during":"archival","item":"/x"}')).toMatchObject({ message: 'permission denied' });
    expect(parseBackupLine('{"message_type":"exit_error","code":12,"message":"wrong password"}')).toEqual({ type: 'exit_error', code: 12, message: 'wrong password' });
    expect(parseBackupLine('{"message_type":"status","action":"scan_finished","item":"","duration":0.1}')).toEqual({ type: 'other', messageType: 'status' });
    expect(parseBackupLine('{"message_type":"verbose_status","action":"new","item":"/x"}')).toEqual({ type: 'other', messageType: 'verbose_status' });
    expect(parseBackupLine('Warning: at least one source file could not be read')).toBeUndefined();
    expect(() => parseBackupLine('{"message_type":"summary"}')).toThrow(ResticFormatError);
  });

  it('snapshots: full and short ids, tags, parent only when set', () => {
    const snapshots = parseSnapshots(fixture('snapshots.captured.json'));
    expect(snapshots).toHaveLength(2);
    expect(snapshots[0]).toEqual({
      id: '8b444b40ff986c2dafb29f374bcb1dfb8c1d8e0ff0ede9218514cb6e0a085e11',
      shortId: '8b444b40',
      timeUnixMs: Date.parse('2026-11-23T15:30:18.023Z'),
      hostname: 'msk-1',
      paths: ['/tmp/rr/data'],
      tags: ['hvctl', 'vm=web-1'],
      tree: 'e688d60bcd9a4f70546a598ad1d62321af36ea0bd411a7cceddd01864a120d21',
    });
    expect(snapshots[1]?.parent).toBe(snapshots[0]?.id);
    expect(tagValue(snapshots[0]!.tags, 'vm')).toBe('web-1');
    expect(parseSnapshots('[]')).toEqual([]);
  });

  it('snapshots --group-by host: the grouped shape', () => {
    expect(parseSnapshots(fixture('snapshots-group-by-host.captured.json')).map((snapshot) => snapshot.shortId)).toEqual(['8b444b40', 'c452799d']);
  });

  it('forget --json: keep and remove per group', () => {
    expect(parseForget(fixture('forget-keep-last-1-dry-run.captured.json'))).toEqual([
      {
        host: 'msk-1',
        paths: ['/tmp/rr/data'],
        tags: [],
        keep: ['c452799d9f7c2f224f4ca9d3bd79d709a81bd85d6e5c21882c14a5097502e9e4'],
        remove: ['8b444b40ff986c2dafb29f374bcb1dfb8c1d8e0ff0ede9218514cb6e0a085e11'],
      },
    ]);
    expect(parseForget('[{"tags":null,"host":"h","paths":["/p"],"keep":[],"remove":null,"reasons":[]}]')[0]?.remove).toEqual([]);
    expect(parseForget('')).toEqual([]);
  });

  it('version text', () => {
    expect(parseResticVersion('restic 0.14.0 compiled with go1.19.8 on linux/amd64\n')).toBe('0.14.0');
  });

  it('rejects what is not JSON', () => {
    expect(() => parseSnapshots('[')).toThrow(ResticFormatError);
    expect(() => parseSnapshots('[{"id":"short"}]')).toThrow(/64-hex/);
  });
});
