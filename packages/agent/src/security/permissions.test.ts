import { describe, expect, it } from 'vitest';
import { PERMISSIONS, authorize } from './permissions.js';
import { servedMethods } from './testing/served-methods.js';

const noWorkflows = async (): Promise<string | undefined> => undefined;

describe('the permission table', () => {
  it('has an entry for every method of every service an agent serves', () => {
    // Given every method of the loaded definitions (hvctl.v1, lab, health, reflection)
    const paths = servedMethods().map((method) => method.path);
    expect(paths.length).toBeGreaterThan(40);
    // Then none is missing from the table (a new RPC must be added there, else it is refused for everyone)
    expect(paths.filter((path) => !(path in PERMISSIONS))).toEqual([]);
    // And the table names no method that does not exist
    expect(Object.keys(PERMISSIONS).filter((path) => !paths.includes(path))).toEqual([]);
  });

  it('refuses a method that is not in the table, for every role', async () => {
    for (const role of ['viewer', 'operator', 'admin', 'node'] as const) {
      expect((await authorize('/hvctl.v1.NodeService/Reboot', role, {}, noWorkflows)).allowed).toBe(false);
    }
  });

  it('lets viewers read and watch only', async () => {
    expect((await authorize('/hvctl.v1.EventsService/Watch', 'viewer', {}, noWorkflows)).allowed).toBe(true);
    expect((await authorize('/hvctl.v1.DrbdService/ListResources', 'viewer', {}, noWorkflows)).allowed).toBe(true);
    expect((await authorize('/hvctl.v1.NodeService/Cordon', 'viewer', {}, noWorkflows)).allowed).toBe(false);
    const denied = await authorize('/hvctl.v1.WorkflowsService/Submit', 'viewer', { spec: { kind: 'migrate', migrate: {} } }, noWorkflows);
    expect(denied).toEqual({ allowed: false, reason: expect.stringContaining('needs the operator role') });
  });

  it('gives operators migrate, drain, undrain and backup workflows but not failover, failback, lease breaking or overwrite', async () => {
    for (const kind of ['migrate', 'drain', 'undrain', 'backup']) {
      expect((await authorize('/hvctl.v1.WorkflowsService/Submit', 'operator', { spec: { kind } }, noWorkflows)).allowed).toBe(true);
      expect((await authorize('/hvctl.v1.WorkflowsService/Plan', 'operator', { spec: { kind } }, noWorkflows)).allowed).toBe(true);
    }
    for (const kind of ['failover', 'failback', undefined]) {
      const decision = await authorize('/hvctl.v1.WorkflowsService/Submit', 'operator', { spec: kind ? { kind } : null }, noWorkflows);
      expect(decision).toEqual({ allowed: false, reason: expect.stringContaining('needs the admin role') });
      expect((await authorize('/hvctl.v1.WorkflowsService/Submit', 'admin', { spec: kind ? { kind } : null }, noWorkflows)).allowed).toBe(true);
    }
    expect((await authorize('/hvctl.v1.LeasesService/Break', 'operator', {}, noWorkflows)).allowed).toBe(false);
    expect((await authorize('/hvctl.v1.LeasesService/Break', 'admin', {}, noWorkflows)).allowed).toBe(true);
    expect((await authorize('/hvctl.v1.BackupService/Restore', 'operator', { overwrite: false }, noWorkflows)).allowed).toBe(true);
    expect((await authorize('/hvctl.v1.BackupService/Restore', 'operator', { overwrite: true }, noWorkflows)).allowed).toBe(false);
    expect((await authorize('/hvctl.v1.DrbdService/Promote', 'operator', { force: true }, noWorkflows)).allowed).toBe(false);
    expect((await authorize('/hvctl.v1.DrbdService/Promote', 'admin', { force: true }, noWorkflows)).allowed).toBe(true);
  });

  it('decides Abort and Resume by the kind of the workflow they name', async () => {
    const lookup = async (id: string): Promise<string | undefined> => ({ 'wf-1': 'failover', 'wf-2': 'drain' })[id];
    expect((await authorize('/hvctl.v1.WorkflowsService/Abort', 'operator', { id: 'wf-1' }, lookup)).allowed).toBe(false);
    expect((await authorize('/hvctl.v1.WorkflowsService/Resume', 'operator', { id: 'wf-1' }, lookup)).allowed).toBe(false);
    expect((await authorize('/hvctl.v1.WorkflowsService/Abort', 'operator', { id: 'wf-2' }, lookup)).allowed).toBe(true);
    expect((await authorize('/hvctl.v1.WorkflowsService/Abort', 'viewer', { id: 'wf-2' }, lookup)).allowed).toBe(false);
  });

  it('lets agents (node) run workflow steps on each other but never start, abort or adopt a workflow other than a scheduled backup', async () => {
    for (const path of ['/hvctl.v1.DrbdService/Promote', '/hvctl.v1.KvmService/Migrate', '/hvctl.v1.RoutingService/Announce', '/hvctl.v1.LeasesService/Acquire', '/hvctl.v1.WorkflowsService/Record']) {
      expect((await authorize(path, 'node', {}, noWorkflows)).allowed).toBe(true);
    }
    for (const path of ['/hvctl.v1.WorkflowsService/Submit', '/hvctl.v1.WorkflowsService/Plan', '/hvctl.v1.WorkflowsService/Abort', '/hvctl.v1.WorkflowsService/Resume', '/hvctl.v1.LeasesService/Break', '/hvctl.lab.v1.FaultsService/SetPartition']) {
      expect((await authorize(path, 'node', { spec: { kind: 'failover' } }, noWorkflows)).allowed).toBe(false);
    }
    // Except the backup site's scheduler, which submits (only) backups
    expect((await authorize('/hvctl.v1.WorkflowsService/Submit', 'node', { spec: { kind: 'backup' } }, noWorkflows)).allowed).toBe(true);
    for (const kind of ['migrate', 'drain', 'undrain', 'failback', undefined]) {
      expect((await authorize('/hvctl.v1.WorkflowsService/Submit', 'node', { spec: { kind } }, noWorkflows)).allowed).toBe(false);
    }
    // And the autopilot's failover is closed to agents that are not the backup site's node
    expect((await authorize('/hvctl.v1.WorkflowsService/Submit', 'node', { spec: { kind: 'failover', failover: { node: 'msk-1', force: false } } }, noWorkflows)).allowed).toBe(false);
    // And people cannot forge what only agents send
    expect((await authorize('/hvctl.v1.WorkflowsService/Record', 'admin', {}, noWorkflows)).allowed).toBe(false);
    expect((await authorize('/hvctl.v1.LeasesService/Acquire', 'admin', {}, noWorkflows)).allowed).toBe(false);
  });

  it("lets the backup site's node (the autopilot) submit failover and start without force, and nothing else more", async () => {
    const autopilot = { autopilot: true };
    const submit = (spec: unknown, context = autopilot) => authorize('/hvctl.v1.WorkflowsService/Submit', 'node', { spec }, noWorkflows, context);
    expect((await submit({ kind: 'failover', failover: { node: 'msk-1', site: '', force: false } })).allowed).toBe(true);
    expect((await submit({ kind: 'start', start: { vm: 'web-1' } })).allowed).toBe(true);
    // Never with force
    const forced = await submit({ kind: 'failover', failover: { node: 'msk-1', site: '', force: true } });
    expect(forced).toEqual({ allowed: false, reason: expect.stringContaining('not open to other agents') });
    // Nor any other kind, nor aborting or adopting workflows, nor breaking leases
    for (const kind of ['migrate', 'drain', 'undrain', 'failback', undefined]) expect((await submit({ kind })).allowed).toBe(false);
    for (const path of ['/hvctl.v1.WorkflowsService/Abort', '/hvctl.v1.WorkflowsService/Resume', '/hvctl.v1.LeasesService/Break']) {
      expect((await authorize(path, 'node', { id: 'wf-1' }, async () => 'failover', autopilot)).allowed).toBe(false);
    }
    // And other agents may not submit them
    expect((await submit({ kind: 'start', start: { vm: 'web-1' } }, { autopilot: false })).allowed).toBe(false);
  });

  it('gives viewers autopilot status and explain, operators its pause, resume and mode, and agents none of it', async () => {
    for (const method of ['GetStatus', 'Explain']) {
      expect((await authorize(`/hvctl.v1.AutopilotService/${method}`, 'viewer', {}, noWorkflows)).allowed).toBe(true);
      expect((await authorize(`/hvctl.v1.AutopilotService/${method}`, 'node', {}, noWorkflows)).allowed).toBe(false);
    }
    for (const method of ['Pause', 'Resume', 'SetMode']) {
      expect((await authorize(`/hvctl.v1.AutopilotService/${method}`, 'viewer', {}, noWorkflows)).allowed).toBe(false);
      expect((await authorize(`/hvctl.v1.AutopilotService/${method}`, 'operator', {}, noWorkflows)).allowed).toBe(true);
      expect((await authorize(`/hvctl.v1.AutopilotService/${method}`, 'admin', {}, noWorkflows)).allowed).toBe(true);
      expect((await authorize(`/hvctl.v1.AutopilotService/${method}`, 'node', {}, noWorkflows, { autopilot: true })).allowed).toBe(false);
    }
  });
});
