import type { BackupServiceHandlers, CreateBackupResponse, RetentionPolicy__Output, Snapshot__Output } from '@hvctl/proto';
import { invalidArgument, validateOwner, validateRequestId, validateResourceName, type RetentionRules } from '@hvctl/common';
import type { AgentContext } from '../context.js';
import { serverStream, unary } from './handler.js';

const SNAPSHOT_ID = /^[0-9a-f]{8,64}$/;
const VOLUME_SNAPSHOT_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const MAX_SAMPLE = 100;

/** The wire policy as rules (zero means "rule not set"), each at most 10000. */
function retentionRules(policy: RetentionPolicy__Output | null): RetentionRules {
  const rules: Record<string, number> = {};
  for (const [key, value] of Object.entries(policy ?? {})) {
    if (typeof value !== 'number' || value === 0) continue;
    if (value > 10_000) throw invalidArgument(`policy.${key} must be at most 10000`);
    rules[key] = value;
  }
  if (Object.keys(rules).length === 0) throw invalidArgument('policy needs at least one keep rule; an empty policy would forget every snapshot');
  return rules as RetentionRules;
}

/** hvctl.v1.BackupService: snapshots on the `bak` site's repository. */
export function backupService(ctx: AgentContext): BackupServiceHandlers {
  const { logger, ledger, drivers } = ctx;
  return {
    ListSnapshots: unary(logger, 'ListSnapshots', async (request) => ({
      snapshots: await drivers.backup.listSnapshots(request.vm === '' ? '' : validateResourceName(request.vm, 'vm')),
    })),
    CreateBackup: serverStream(logger, 'CreateBackup', async (request, call) => {
      const vm = validateResourceName(request.vm, 'vm');
      const send = (message: CreateBackupResponse): void => {
        if (!call.cancelled) call.write(message);
      };
      // A caller that cancels (an aborted workflow) stops the upload; nothing is stored then.
      const cancelled = new AbortController();
      call.on('cancelled', () => cancelled.abort());
      const done = await ledger.stream<Snapshot__Output, CreateBackupResponse>(
        'CreateBackup',
        validateRequestId(request.requestId),
        (emit) =>
          drivers.backup.createBackup(vm, {
            onProgress: (progress) => emit({ progress }),
            signal: cancelled.signal,
            ...(request.volumeSnapshotId ? { volumeSnapshotId: volumeSnapshotId(request.volumeSnapshotId) } : {}),
          }),
        send,
      );
      send({ done });
    }),
    Restore: unary(logger, 'Restore', (request) => {
      if (!SNAPSHOT_ID.test(request.snapshotId)) {
        throw invalidArgument(`snapshot_id "${request.snapshotId.slice(0, 70)}" is not a snapshot id (8-64 lowercase hex digits)`);
      }
      const target = validateResourceName(request.targetResource, 'target_resource');
      return ledger.once('Restore', validateRequestId(request.requestId), async () => {
        const result = await drivers.backup.restore(request.snapshotId, target, request.overwrite);
        return { snapshot: result.snapshot, targetResource: result.targetResource, bytesRestored: result.bytesRestored, checksum: result.checksum };
      });
    }),
    SnapshotVolume: unary(logger, 'SnapshotVolume', (request) => {
      const vm = validateResourceName(request.vm, 'vm');
      const owner = request.owner === '' ? 'operator' : validateOwner(request.owner);
      return ledger.once('SnapshotVolume', validateRequestId(request.requestId), () => drivers.backup.snapshotVolume(vm, owner));
    }),
    ReleaseVolumeSnapshots: unary(logger, 'ReleaseVolumeSnapshots', (request) => {
      const vm = validateResourceName(request.vm, 'vm');
      return ledger.once('ReleaseVolumeSnapshots', validateRequestId(request.requestId), async () => ({ released: await drivers.backup.releaseVolumeSnapshots(vm) }));
    }),
    ListVolumeSnapshots: unary(logger, 'ListVolumeSnapshots', async () => ({ snapshots: await drivers.backup.listVolumeSnapshots() })),
    ApplyRetention: unary(logger, 'ApplyRetention', (request) => {
      const vm = validateResourceName(request.vm, 'vm');
      const policy = retentionRules(request.policy);
      return ledger.once('ApplyRetention', validateRequestId(request.requestId), async () => {
        const result = await drivers.backup.applyRetention(vm, policy, { dryRun: request.dryRun, prune: request.prune });
        return { kept: [...result.kept], forgotten: [...result.forgotten] };
      });
    }),
    VerifyBackups: unary(logger, 'VerifyBackups', async (request) => {
      if (request.sample > MAX_SAMPLE) throw invalidArgument(`sample must be at most ${MAX_SAMPLE}`);
      const result = await drivers.backup.verify(request.sample || 1);
      return { ok: result.ok, checkMessage: result.checkMessage, samples: [...result.samples] };
    }),
  };
}

function volumeSnapshotId(value: string): string {
  if (!VOLUME_SNAPSHOT_ID.test(value)) throw invalidArgument(`volume_snapshot_id "${value.slice(0, 70)}" is not a volume snapshot id`);
  return value;
}
