import type { BackupServiceHandlers, CreateBackupResponse, Snapshot__Output } from '@hvctl/proto';
import { invalidArgument, validateRequestId, validateResourceName } from '@hvctl/common';
import type { AgentContext } from '../context.js';
import { serverStream, unary } from './handler.js';

const SNAPSHOT_ID = /^[0-9a-f]{8,64}$/;

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
      const done = await ledger.stream<Snapshot__Output, CreateBackupResponse>(
        'CreateBackup',
        validateRequestId(request.requestId),
        (emit) => drivers.backup.createBackup(vm, { onProgress: (progress) => emit({ progress }) }),
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
        return { snapshot: result.snapshot, targetResource: result.targetResource, bytesRestored: result.bytesRestored };
      });
    }),
  };
}
