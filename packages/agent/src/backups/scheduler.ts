import { Cron } from 'croner';
import type { SubmitResponse__Output, WatchWorkflowResponse__Output, Workflow__Output } from '@hvctl/proto';
import { HvctlError, deadline, fromServiceError, unary, type BackupPolicy, type BackupsSection, type Logger } from '@hvctl/common';
import type { BackupDriver } from '../drivers/types.js';
import type { ClusterAccess } from '../workflows/cluster-access.js';
import { primaryOf } from '../workflows/kinds/backup.js';

/** How often the cluster file is re-read for changed policies. */
const RELOAD_MS = 5000;
/** How long the scheduler follows one backup workflow before leaving it to run on its own. */
const FOLLOW_MS = 6 * 3600_000;

export interface BackupSchedulerOptions {
  /** This agent's node (the backup site's, the only one that schedules). */
  readonly self: string;
  readonly cluster: ClusterAccess;
  /** Reads the current policies (the cluster file's `backups:` section). */
  readonly policies: () => Promise<BackupsSection | undefined>;
  /** This node's backup driver: the repository retention is applied to. */
  readonly backup: BackupDriver;
  readonly logger: Logger;
  readonly announce: (level: 'info' | 'warn' | 'error', message: string) => void;
  readonly reloadMs?: number;
}

/** What the scheduler did last for one VM (for metrics and tests). */
export interface ScheduledRun {
  readonly vm: string;
  readonly policy: string;
  readonly atMs: number;
  /** "succeeded", "failed", "refused", "skipped" (a backup of the VM was still running), "error". */
  readonly outcome: string;
  readonly workflowId: string;
  readonly detail: string;
  readonly forgotten: number;
}

/**
 * The cluster's one backup scheduler, run by the backup site's agent: a cron job per
 * policy (UTC; a policy whose previous run is still going skips a tick) submits a
 * `backup` workflow for each of its VMs to the node where the VM is Primary, follows
 * it, then applies the policy's retention to the repository. A second run for a VM
 * whose backup still runs is refused by that workflow's lease and reported as skipped.
 */
export class BackupScheduler {
  private jobs = new Map<string, { readonly key: string; readonly cron: Cron }>();
  private reloadTimer?: NodeJS.Timeout;
  private readonly runs = new Map<string, ScheduledRun>();
  private stopped = false;

  constructor(private readonly options: BackupSchedulerOptions) {}

  async start(): Promise<void> {
    await this.reload();
    this.reloadTimer = setInterval(() => void this.reload(), this.options.reloadMs ?? RELOAD_MS);
    this.reloadTimer.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.reloadTimer) clearInterval(this.reloadTimer);
    for (const job of this.jobs.values()) job.cron.stop();
    this.jobs.clear();
  }

  /** The last scheduled run per VM. */
  lastRuns(): ScheduledRun[] {
    return [...this.runs.values()];
  }

  /** Policies scheduled now, with their next run. */
  scheduled(): { policy: string; nextRunMs: number }[] {
    return [...this.jobs].map(([policy, job]) => ({ policy, nextRunMs: job.cron.nextRun()?.getTime() ?? 0 }));
  }

  /** Re-reads the policies; (re)creates the cron job of each changed policy. */
  async reload(): Promise<void> {
    let section: BackupsSection | undefined;
    try {
      section = await this.options.policies();
    } catch (error) {
      this.options.logger.warn({ err: error }, 'cannot read the backup policies; keeping the current schedule');
      return;
    }
    if (this.stopped) return;
    const wanted = new Map((section?.policies ?? []).map((policy) => [policy.name, policy]));
    for (const [name, job] of this.jobs) {
      const policy = wanted.get(name);
      if (!policy || JSON.stringify(policy) !== job.key) {
        job.cron.stop();
        this.jobs.delete(name);
      }
    }
    for (const policy of wanted.values()) {
      if (this.jobs.has(policy.name)) continue;
      try {
        const cron = new Cron(policy.schedule, { timezone: 'Etc/UTC', protect: true, name: `hvctl-backup-${policy.name}-${this.options.self}` }, () => this.fire(policy));
        this.jobs.set(policy.name, { key: JSON.stringify(policy), cron });
        this.options.logger.info({ policy: policy.name, schedule: policy.schedule, next: cron.nextRun()?.toISOString() }, 'backup policy scheduled');
      } catch (error) {
        this.options.announce('error', `backup policy ${policy.name}: schedule "${policy.schedule}" is invalid (${(error as Error).message}); it is not scheduled — fix the cluster file`);
      }
    }
  }

  /** One tick of a policy: back up each of its VMs in turn, then apply retention. */
  async fire(policy: BackupPolicy): Promise<void> {
    const vms = await this.vmsOf(policy);
    for (const vm of vms) {
      if (this.stopped) return;
      const run = await this.backupOne(policy, vm);
      this.runs.set(vm, run);
    }
  }

  private async vmsOf(policy: BackupPolicy): Promise<string[]> {
    const named = policy.vms.filter((vm) => vm !== '*');
    if (!policy.vms.includes('*')) return named;
    // The wildcard: every VM defined anywhere reachable that no other policy names.
    const section = await this.options.policies().catch(() => undefined);
    const elsewhere = new Set((section?.policies ?? []).filter((other) => other.name !== policy.name).flatMap((other) => other.vms));
    const all = new Set<string>(named);
    for (const node of this.options.cluster.nodes()) {
      const domains = await this.options.cluster.domains(node).catch(() => []);
      for (const domain of domains) if (!elsewhere.has(domain.name)) all.add(domain.name);
    }
    return [...all].sort();
  }

  private async backupOne(policy: BackupPolicy, vm: string): Promise<ScheduledRun> {
    const atMs = Date.now();
    const base = { vm, policy: policy.name, atMs, forgotten: 0 };
    let node: string;
    let workflow: Workflow__Output;
    try {
      node = (await primaryOf(this.options.cluster, vm)).node;
      const client = this.options.cluster.client(node);
      const response = await unary<SubmitResponse__Output>(`Submit backup of ${vm} to ${node}`, (cb) =>
        client.workflows.submit(
          { requestId: `sched-${policy.name}-${vm}-${atMs}`.slice(0, 128), spec: { backup: { vm, reason: `schedule:${policy.name}` } }, owner: `scheduler@${this.options.self}` },
          deadline(30_000),
          cb,
        ),
      );
      if (!response.workflow) throw new HvctlError('INTERNAL', `${node} returned no workflow`);
      workflow = response.workflow;
    } catch (error) {
      const message = (error as Error).message;
      const busy = error instanceof HvctlError && error.code === 'FAILED_PRECONDITION' && /lease|held by/i.test(message);
      this.options.announce(busy ? 'warn' : 'error', `scheduled backup of ${vm} (policy ${policy.name}) ${busy ? 'skipped' : 'not started'}: ${message}`);
      return { ...base, outcome: busy ? 'skipped' : 'error', workflowId: '', detail: message };
    }
    const final = await this.follow(node, workflow.id).catch((error: unknown) => ({ ...workflow, state: 'error', error: (error as Error).message }));
    if (final.state !== 'succeeded') {
      this.options.announce('error', `scheduled backup of ${vm} (policy ${policy.name}) ${final.state}: ${final.error || 'see the workflow'} (${workflow.id} on ${node})`);
      return { ...base, outcome: final.state, workflowId: workflow.id, detail: final.error };
    }
    let forgotten = 0;
    try {
      const result = await this.options.backup.applyRetention(vm, policy.retention, { dryRun: false, prune: true });
      forgotten = result.forgotten.length;
      if (forgotten) this.options.logger.info({ vm, policy: policy.name, forgotten: result.forgotten, kept: result.kept.length }, 'retention applied');
    } catch (error) {
      this.options.announce('error', `retention of ${vm}'s backups (policy ${policy.name}) failed: ${(error as Error).message}; nothing was forgotten`);
    }
    return { ...base, outcome: 'succeeded', workflowId: workflow.id, detail: final.summary[0] ?? '', forgotten };
  }

  /** Follows a workflow on its coordinator until it ends. */
  private follow(node: string, id: string): Promise<Workflow__Output> {
    const client = this.options.cluster.client(node);
    return new Promise((resolve, reject) => {
      let last: Workflow__Output | undefined;
      const stream = client.workflows.watchWorkflow({ id }, { deadline: new Date(Date.now() + FOLLOW_MS) });
      stream.on('data', (message: WatchWorkflowResponse__Output) => {
        if (message.workflow) last = message.workflow;
      });
      stream.on('error', (error) => reject(fromServiceError(error, `watch ${id}`)));
      stream.on('end', () => (last && last.state !== 'running' ? resolve(last) : reject(new Error(`the watch of ${id} on ${node} ended while it was running`))));
    });
  }
}
