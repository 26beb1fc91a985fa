/**
 * Every RPC the agent serves, classified once: mutating calls are journaled (intent
 * before, outcome after); read-only ones are not. audit/mutating.test.ts enumerates every
 * service of the protos and fails when a method is missing here, so a new RPC cannot
 * slip past the journal unclassified.
 */

/** Calls that change something on the node (or its workflows, leases, lab faults). */
export const MUTATING_METHODS: ReadonlySet<string> = new Set([
  '/hvctl.v1.NodeService/Cordon',
  '/hvctl.v1.NodeService/Uncordon',
  '/hvctl.v1.NodeService/SetMaintenance',
  '/hvctl.v1.DrbdService/Promote',
  '/hvctl.v1.DrbdService/Demote',
  '/hvctl.v1.DrbdService/Connect',
  '/hvctl.v1.DrbdService/Disconnect',
  '/hvctl.v1.DrbdService/SetAllowTwoPrimaries',
  '/hvctl.v1.KvmService/Start',
  '/hvctl.v1.KvmService/Shutdown',
  '/hvctl.v1.KvmService/Destroy',
  '/hvctl.v1.KvmService/Migrate',
  '/hvctl.v1.KvmService/SetIntent',
  '/hvctl.v1.RoutingService/Announce',
  '/hvctl.v1.RoutingService/Withdraw',
  '/hvctl.v1.BackupService/CreateBackup',
  '/hvctl.v1.BackupService/Restore',
  '/hvctl.v1.BackupService/SnapshotVolume',
  '/hvctl.v1.BackupService/ReleaseVolumeSnapshots',
  '/hvctl.v1.BackupService/ApplyRetention',
  '/hvctl.v1.AvailabilityService/ForgetVm',
  '/hvctl.v1.WorkflowsService/Submit',
  '/hvctl.v1.WorkflowsService/Abort',
  '/hvctl.v1.WorkflowsService/Resume',
  '/hvctl.v1.WorkflowsService/Record',
  '/hvctl.v1.LeasesService/Acquire',
  '/hvctl.v1.LeasesService/Release',
  '/hvctl.v1.LeasesService/Break',
  '/hvctl.v1.SecurityService/UpdateRevocations',
  '/hvctl.v1.AutopilotService/Pause',
  '/hvctl.v1.AutopilotService/Resume',
  '/hvctl.v1.AutopilotService/SetMode',
  '/hvctl.lab.v1.FaultsService/SetPartition',
  '/hvctl.lab.v1.FaultsService/FailDisk',
  '/hvctl.lab.v1.FaultsService/SetLinkDelay',
  '/hvctl.lab.v1.FaultsService/FailMigrations',
  '/hvctl.lab.v1.FaultsService/CorruptBackup',
]);

/** Calls that only read or watch (Plan computes a plan and changes nothing). */
export const READ_ONLY_METHODS: ReadonlySet<string> = new Set([
  '/hvctl.v1.NodeService/GetInfo',
  '/hvctl.v1.DrbdService/ListResources',
  '/hvctl.v1.DrbdService/GetResource',
  '/hvctl.v1.KvmService/ListDomains',
  '/hvctl.v1.KvmService/GetDomain',
  '/hvctl.v1.RoutingService/ListRoutes',
  '/hvctl.v1.RoutingService/ListAnnouncements',
  '/hvctl.v1.RoutingService/ListNeighbors',
  '/hvctl.v1.BackupService/ListSnapshots',
  '/hvctl.v1.BackupService/ListVolumeSnapshots',
  '/hvctl.v1.BackupService/VerifyBackups',
  '/hvctl.v1.EventsService/Watch',
  '/hvctl.v1.WorkflowsService/Plan',
  '/hvctl.v1.WorkflowsService/WatchWorkflow',
  '/hvctl.v1.WorkflowsService/ListWorkflows',
  '/hvctl.v1.LeasesService/ListLeases',
  '/hvctl.v1.AvailabilityService/GetReport',
  '/hvctl.v1.AvailabilityService/ListTransitions',
  '/hvctl.v1.AvailabilityService/ListAlerts',
  '/hvctl.v1.AuditService/ReadJournal',
  '/hvctl.v1.AuditService/VerifyJournal',
  '/hvctl.v1.AutopilotService/GetStatus',
  '/hvctl.v1.AutopilotService/Explain',
]);

/** Whether a call (by full method path) is journaled. Unknown paths count as mutating: journaling too much is the safe mistake. */
export function isMutating(path: string): boolean {
  return !READ_ONLY_METHODS.has(path);
}
