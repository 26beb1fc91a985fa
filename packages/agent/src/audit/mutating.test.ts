import type * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { loadProtos } from '@hvctl/proto';
import { MUTATING_METHODS, READ_ONLY_METHODS } from './mutating.js';

/** Every method path of every service in the public and the lab protos. */
function everyMethodPath(): string[] {
  const { definition, labDefinition } = loadProtos();
  const paths: string[] = [];
  for (const pkg of [definition, labDefinition]) {
    for (const entry of Object.values(pkg)) {
      // Services are the entries without a message `format`: a map of method name to method definition.
      if ('format' in entry) continue;
      for (const method of Object.values(entry as grpc.ServiceDefinition)) paths.push(method.path);
    }
  }
  return paths.sort();
}

describe('the mutating-method table', () => {
  it('classifies every RPC of every service as mutating or read-only, exactly once', () => {
    // Given every method the protos define
    const paths = everyMethodPath();
    expect(paths.length).toBeGreaterThan(40);
    // Then each is in exactly one of the two tables (a new RPC must be added to one)
    const unclassified = paths.filter((path) => !MUTATING_METHODS.has(path) && !READ_ONLY_METHODS.has(path));
    const both = paths.filter((path) => MUTATING_METHODS.has(path) && READ_ONLY_METHODS.has(path));
    expect({ unclassified, both }).toEqual({ unclassified: [], both: [] });
    // And the tables name no method that does not exist (a renamed RPC must not leave a stale entry)
    const known = new Set(paths);
    expect([...MUTATING_METHODS, ...READ_ONLY_METHODS].filter((path) => !known.has(path))).toEqual([]);
  });

  it('journals the calls the security model names as mutating', () => {
    for (const path of ['/hvctl.v1.DrbdService/Promote', '/hvctl.v1.KvmService/Migrate', '/hvctl.v1.BackupService/Restore', '/hvctl.v1.LeasesService/Break', '/hvctl.v1.WorkflowsService/Submit', '/hvctl.v1.NodeService/Cordon']) {
      expect(MUTATING_METHODS.has(path), path).toBe(true);
    }
    for (const path of ['/hvctl.v1.EventsService/Watch', '/hvctl.v1.NodeService/GetInfo', '/hvctl.v1.AuditService/ReadJournal']) expect(READ_ONLY_METHODS.has(path), path).toBe(true);
  });
});
