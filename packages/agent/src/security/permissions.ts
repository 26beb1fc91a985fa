import type { PersonRole, Role } from '@hvctl/common';

/**
 * Who may call what: one entry per RPC method (full path), deny by default — a method
 * missing here is refused (PERMISSION_DENIED) for everyone. docs/security.md prints this
 * table; permissions.test.ts checks that every loaded service method has an entry.
 *
 * `minimum` is the least person role (viewer < operator < admin) allowed, `any` means any
 * authenticated peer (health, reflection), `none` means no person at all (calls only
 * agents make to each other). `node` says whether another agent of the cluster may call
 * it with its node certificate. Low-level driver mutations (promote, migrate a domain,
 * announce) are what workflows do step by step: agents may call them on each other,
 * people need admin — operators act through workflows, whose authorisation is checked
 * once, at Plan/Submit/Abort/Resume on the coordinator.
 */
export interface Permission {
  readonly minimum: PersonRole | 'any' | 'none';
  readonly node: boolean;
  /** For methods whose required role depends on the request (the workflow kind, `overwrite`, `force`). */
  readonly byRequest?: (request: unknown, lookup: WorkflowLookup) => Promise<PersonRole>;
  /** What the rule is, in one line, for docs and refusals. */
  readonly note?: string;
  /** For methods closed to agents in general: the requests another agent may still make. */
  readonly nodeMay?: (request: unknown, context: CallerContext) => boolean;
}

/** What the table needs to know about the calling agent beyond its role. */
export interface CallerContext {
  /** The caller is the backup site's node, which runs the autopilot (the cluster file says which node that is). */
  readonly autopilot?: boolean;
}

/** Finds the kind (migrate, drain, ...) of a workflow this agent coordinates or holds a copy of. */
export type WorkflowLookup = (workflowId: string) => Promise<string | undefined>;

const viewer: Permission = { minimum: 'viewer', node: true };
const nodeOnly: Permission = { minimum: 'none', node: true };
const lowLevel: Permission = { minimum: 'admin', node: true, note: 'one workflow step; people use workflows' };
const anyPeer: Permission = { minimum: 'any', node: true };

/** Workflow kinds an operator may run; every other kind (failover, failback, unknown) needs admin. */
export const OPERATOR_WORKFLOWS: readonly string[] = ['migrate', 'drain', 'undrain', 'backup', 'start', 'stop'];

/** The role a workflow spec needs: `spec.kind` is the oneof case set by proto-loader (`oneofs: true`). */
export function roleForSpec(spec: unknown): PersonRole {
  const kind = (spec as { kind?: unknown } | null | undefined)?.kind;
  return typeof kind === 'string' && OPERATOR_WORKFLOWS.includes(kind) ? 'operator' : 'admin';
}

/** Workflow kinds another agent may submit: the backup site's scheduler runs scheduled backups with its node certificate. */
export const NODE_WORKFLOWS: readonly string[] = ['backup'];

/**
 * Workflow kinds the backup site's node may also submit: its autopilot fails over lost
 * nodes and starts VMs that should run (docs/autopilot.md) — never with force.
 */
export const AUTOPILOT_WORKFLOWS: readonly string[] = ['failover', 'start'];

function nodeMaySubmit(request: unknown, context: CallerContext): boolean {
  const spec = (request as { spec?: { kind?: unknown; failover?: { force?: unknown } | null } } | null)?.spec;
  const kind = String(spec?.kind);
  if (NODE_WORKFLOWS.includes(kind)) return true;
  return context.autopilot === true && AUTOPILOT_WORKFLOWS.includes(kind) && spec?.failover?.force !== true;
}

const bySpec: Permission = {
  minimum: 'operator',
  node: false,
  byRequest: async (request) => roleForSpec((request as { spec?: unknown } | null)?.spec),
  nodeMay: nodeMaySubmit,
  note: "operator for migrate, drain, undrain, backup, start, stop; admin for failover, failback; agents: scheduled backups only, and the backup site's autopilot failover and start without force",
};
const byWorkflowId: Permission = {
  minimum: 'operator',
  node: false,
  byRequest: async (request, lookup) => {
    const id = (request as { workflowId?: unknown; id?: unknown } | null)?.workflowId ?? (request as { id?: unknown } | null)?.id;
    const kind = typeof id === 'string' && id ? await lookup(id) : undefined;
    return kind === undefined ? 'operator' : roleForSpec({ kind });
  },
  note: "as the workflow's kind: operator for migrate, drain, undrain, backup, start, stop; admin for failover, failback",
};

export const PERMISSIONS: Readonly<Record<string, Permission>> = {
  '/hvctl.v1.NodeService/GetInfo': viewer,
  '/hvctl.v1.NodeService/Cordon': { minimum: 'operator', node: true },
  '/hvctl.v1.NodeService/Uncordon': { minimum: 'operator', node: true },
  '/hvctl.v1.NodeService/SetMaintenance': { minimum: 'operator', node: true },

  '/hvctl.v1.DrbdService/ListResources': viewer,
  '/hvctl.v1.DrbdService/GetResource': viewer,
  '/hvctl.v1.DrbdService/Promote': { ...lowLevel, note: 'includes force-promote' },
  '/hvctl.v1.DrbdService/Demote': lowLevel,
  '/hvctl.v1.DrbdService/Connect': lowLevel,
  '/hvctl.v1.DrbdService/Disconnect': lowLevel,
  '/hvctl.v1.DrbdService/SetAllowTwoPrimaries': lowLevel,

  '/hvctl.v1.KvmService/ListDomains': viewer,
  '/hvctl.v1.KvmService/GetDomain': viewer,
  '/hvctl.v1.KvmService/Start': lowLevel,
  '/hvctl.v1.KvmService/Shutdown': lowLevel,
  '/hvctl.v1.KvmService/Destroy': lowLevel,
  '/hvctl.v1.KvmService/Migrate': lowLevel,
  '/hvctl.v1.KvmService/SetIntent': lowLevel,

  '/hvctl.v1.RoutingService/ListRoutes': viewer,
  '/hvctl.v1.RoutingService/ListAnnouncements': viewer,
  '/hvctl.v1.RoutingService/ListNeighbors': viewer,
  '/hvctl.v1.RoutingService/Announce': lowLevel,
  '/hvctl.v1.RoutingService/Withdraw': lowLevel,

  '/hvctl.v1.BackupService/ListSnapshots': viewer,
  '/hvctl.v1.BackupService/CreateBackup': { minimum: 'operator', node: true },
  '/hvctl.v1.BackupService/Restore': {
    minimum: 'operator',
    node: false,
    byRequest: async (request) => ((request as { overwrite?: unknown } | null)?.overwrite === true ? 'admin' : 'operator'),
    note: 'operator into a new resource; admin with overwrite',
  },
  '/hvctl.v1.BackupService/SnapshotVolume': { minimum: 'operator', node: true },
  '/hvctl.v1.BackupService/ReleaseVolumeSnapshots': { minimum: 'operator', node: true },
  '/hvctl.v1.BackupService/ListVolumeSnapshots': viewer,
  '/hvctl.v1.BackupService/ApplyRetention': { minimum: 'admin', node: true, note: 'forgets backups' },
  '/hvctl.v1.BackupService/VerifyBackups': { minimum: 'operator', node: true },

  '/hvctl.v1.AuditService/ReadJournal': { minimum: 'operator', node: false, note: 'who did what' },
  '/hvctl.v1.AuditService/VerifyJournal': { minimum: 'operator', node: false },
  '/hvctl.v1.AvailabilityService/GetReport': { minimum: 'viewer', node: false, note: 'SLA report (billing reads it)' },
  '/hvctl.v1.AvailabilityService/ListTransitions': { minimum: 'viewer', node: false },
  '/hvctl.v1.AvailabilityService/ListAlerts': { minimum: 'viewer', node: false },
  '/hvctl.v1.AvailabilityService/ForgetVm': { minimum: 'operator', node: false, note: 'drop a deleted VM from the watcher\'s registry' },

  '/hvctl.v1.AutopilotService/GetStatus': { minimum: 'viewer', node: false },
  '/hvctl.v1.AutopilotService/Explain': { minimum: 'viewer', node: false },
  '/hvctl.v1.AutopilotService/Pause': { minimum: 'operator', node: false, note: 'stops automatic failovers' },
  '/hvctl.v1.AutopilotService/Resume': { minimum: 'operator', node: false },
  '/hvctl.v1.AutopilotService/SetMode': { minimum: 'operator', node: false },

  '/hvctl.v1.SecurityService/UpdateRevocations': { minimum: 'admin', node: false, note: 'installs a CA-signed revocation list' },

  '/hvctl.v1.EventsService/Watch': viewer,

  '/hvctl.v1.WorkflowsService/Plan': bySpec,
  '/hvctl.v1.WorkflowsService/Submit': bySpec,
  '/hvctl.v1.WorkflowsService/WatchWorkflow': viewer,
  '/hvctl.v1.WorkflowsService/ListWorkflows': viewer,
  '/hvctl.v1.WorkflowsService/Abort': byWorkflowId,
  '/hvctl.v1.WorkflowsService/Resume': byWorkflowId,
  '/hvctl.v1.WorkflowsService/Record': { ...nodeOnly, note: "a coordinator's journal copy" },

  '/hvctl.v1.LeasesService/Acquire': nodeOnly,
  '/hvctl.v1.LeasesService/Release': nodeOnly,
  '/hvctl.v1.LeasesService/ListLeases': viewer,
  '/hvctl.v1.LeasesService/Break': { minimum: 'admin', node: false },

  '/hvctl.lab.v1.FaultsService/SetPartition': { minimum: 'admin', node: false, note: 'lab only' },
  '/hvctl.lab.v1.FaultsService/FailDisk': { minimum: 'admin', node: false, note: 'lab only' },
  '/hvctl.lab.v1.FaultsService/SetLinkDelay': { minimum: 'admin', node: false, note: 'lab only' },
  '/hvctl.lab.v1.FaultsService/FailMigrations': { minimum: 'admin', node: false, note: 'lab only' },
  '/hvctl.lab.v1.FaultsService/CorruptBackup': { minimum: 'admin', node: false, note: 'lab only' },

  '/grpc.health.v1.Health/Check': anyPeer,
  '/grpc.health.v1.Health/Watch': anyPeer,
  '/grpc.health.v1.Health/List': anyPeer,
  '/grpc.reflection.v1.ServerReflection/ServerReflectionInfo': anyPeer,
  '/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo': anyPeer,
};

export type Decision = { readonly allowed: true } | { readonly allowed: false; readonly reason: string };

const RANK: Record<PersonRole, number> = { viewer: 0, operator: 1, admin: 2 };

/** Decides whether `role` may call `path` with `request`. */
export async function authorize(path: string, role: Role, request: unknown, lookup: WorkflowLookup, context: CallerContext = {}): Promise<Decision> {
  const permission = PERMISSIONS[path];
  if (!permission) return { allowed: false, reason: `${path} is not in the agent's permission table; nobody may call it` };
  if (role === 'node') {
    if (permission.node || permission.nodeMay?.(request, context)) return { allowed: true };
    return { allowed: false, reason: `${path} is not open to other agents (node certificates); it needs a person's certificate or token` };
  }
  if (permission.minimum === 'any') return { allowed: true };
  if (permission.minimum === 'none') return { allowed: false, reason: `${path} is only for the cluster's agents (node certificates)` };
  const needed = permission.byRequest ? await permission.byRequest(request, lookup) : permission.minimum;
  if (RANK[role] >= RANK[needed]) return { allowed: true };
  return { allowed: false, reason: `${path} needs the ${needed} role${permission.note ? ` (${permission.note})` : ''}; this caller is ${role}` };
}

/** True when a method's decision depends on its request message (checked once it arrives). */
export function needsRequest(path: string): boolean {
  return PERMISSIONS[path]?.byRequest !== undefined;
}
