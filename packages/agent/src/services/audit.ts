import type { AuditServiceHandlers } from '@hvctl/proto';
import type { Logger } from '@hvctl/common';
import type { AuditJournal } from '../audit/journal.js';
import { serverStream, unary } from './handler.js';

/** hvctl.v1.AuditService: read and verify this agent's audit journal. */
export function auditService(logger: Logger, audit: AuditJournal, node: string): AuditServiceHandlers {
  return {
    ReadJournal: serverStream(logger, 'ReadJournal', async (request, call) => {
      const fromSeq = Number(request.fromSeq);
      const sinceMs = Number(request.sinceUnixMs);
      const { lines, head } = await audit.snapshot();
      for (const entry of lines) {
        if (call.cancelled) return;
        // A line that is not a record (seq 0) is always sent: it is what a verifier must see.
        if (entry.seq !== 0 && (entry.seq < fromSeq || (sinceMs > 0 && Date.parse(entry.time) < sinceMs))) continue;
        call.write({ record: { seq: entry.seq, line: entry.line } });
      }
      call.write({ head: { seq: head.seq, hash: head.hash, node } });
    }),
    VerifyJournal: unary(logger, 'VerifyJournal', async () => {
      const verdict = await audit.verify();
      return {
        ok: verdict.ok,
        records: verdict.records,
        brokenSeq: verdict.ok ? 0 : verdict.seq,
        reason: verdict.ok ? '' : verdict.reason,
        head: { seq: verdict.head.seq, hash: verdict.head.hash, node },
      };
    }),
  };
}
