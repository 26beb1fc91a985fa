import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { formatClusterFile, parseClusterFile } from './cluster-file.js';
import { parseBackupsSection, policyFor } from './backup-policy.js';

const base = { sites: [{ name: 'msk' }, { name: 'bak', kind: 'backup' }], nodes: [{ name: 'msk-1', site: 'msk', address: '127.0.0.1:1' }, { name: 'bak-1', site: 'bak', address: '127.0.0.1:2' }] };

describe('backups: section of the cluster file', () => {
  it('parses policies with defaults and finds the policy of a VM (named first, then the wildcard)', () => {
    const section = parseBackupsSection({
      policies: [
        { name: 'db', vms: ['db-1'], schedule: '0 */4 * * *', retention: { keepLast: 6, keepDaily: 7 }, maxAge: '5h' },
        { name: 'rest', vms: ['*'], schedule: '30 2 * * *', retention: { keepDaily: 7, keepWeekly: 4, keepMonthly: 12 } },
      ],
    });
    expect(policyFor(section, 'db-1')?.name).toBe('db');
    expect(policyFor(section, 'db-1')?.maxAgeSeconds).toBe(5 * 3600);
    expect(policyFor(section, 'web-1')?.name).toBe('rest');
    expect(policyFor(section, 'web-1')?.maxAgeSeconds).toBe(26 * 3600);
    expect(policyFor(undefined, 'web-1')).toBeUndefined();
  });

  it.each([
    [{ policies: [{ name: 'a', vms: ['x'], schedule: 'every day', retention: { keepLast: 1 } }] }, /not a cron expression/],
    [{ policies: [{ name: 'a', vms: ['x'], schedule: '* * * * *', retention: {} }] }, /at least one rule/],
    [{ policies: [{ name: 'a', vms: ['x'], schedule: '* * * * *', retention: { keepForever: 1 } }] }, /not a retention rule/],
    [{ policies: [{ name: 'a', vms: ['x'], schedule: '* * * * *', retention: { keepLast: 0 } }] }, /integer from 1/],
    [{ policies: [{ name: 'a', vms: ['x'], schedule: '* * * * *', retention: { keepLast: 1 }, maxAge: '1 week' }] }, /not a duration/],
    [{ policies: [{ name: 'a', vms: ['x; rm -rf /'], schedule: '* * * * *', retention: { keepLast: 1 } }] }, /vms\[0\]/],
    [{ policies: [{ name: 'a', vms: ['x'], schedule: '* * * * *', retention: { keepLast: 1 } }, { name: 'b', vms: ['x'], schedule: '* * * * *', retention: { keepLast: 1 } }] }, /already covered by policy "a"/],
    [{ policies: [{ name: 'a', vms: ['x'], schedule: '* * * * *', retention: { keepLast: 1 }, when: 'now' }] }, /not a known key/],
    [{ policies: [] , extra: 1 }, /not a known key/],
  ])('refuses %j', (raw, message) => {
    expect(() => parseBackupsSection(raw)).toThrow(message);
  });

  it('round-trips through the cluster file writer', () => {
    const cluster = parseClusterFile({ ...base, backups: { policies: [{ name: 'all', vms: ['*'], schedule: '*/5 * * * * *', retention: { keepLast: 3 }, maxAge: '90s' }] } });
    expect(parseClusterFile(parse(formatClusterFile(cluster)))).toEqual(cluster);
    expect(() => parseClusterFile({ ...base, backups: { policies: 'x' } }, 'c.yaml')).toThrow(/cluster file c.yaml: backups.policies must be a list/);
  });
});
