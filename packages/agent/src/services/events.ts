import type { EventsServiceHandlers, WatchResponse__Output } from '@hvctl/proto';
import type { AgentContext } from '../context.js';

/**
 * Messages a watcher may fall behind before it is dropped. The stream is in object mode, so
 * its writableLength counts messages, not bytes. Kept well below the hub's buffer (10,000
 * deltas by default) so that a dropped watcher can still resume without a snapshot.
 */
export const WATCH_BACKLOG_LIMIT_MESSAGES = 4096;

/** hvctl.v1.EventsService: snapshot, then deltas, then heartbeats while idle. */
export function eventsService(ctx: AgentContext): EventsServiceHandlers {
  const { hub, heartbeatMs } = ctx;
  return {
    Watch: (call) => {
      const { resumeEpoch, resumeRevision } = call.request;
      let lastSentMs = Date.now();
      let closed = false;
      const send = (message: WatchResponse__Output): void => {
        if (closed) return;
        call.write(message);
        lastSentMs = Date.now();
        if (call.writableLength > WATCH_BACKLOG_LIMIT_MESSAGES) {
          close();
          // grpc-js sends the status from the 'error' handler, after what is already queued; destroy() would send none.
          call.emit('error', Object.assign(new Error('watch consumer too slow; resume from the last revision you applied'), { code: 8 }));
        }
      };
      const missed = hub.missedSince(resumeEpoch, Number(resumeRevision));
      // Subscribe before sending what was missed: both happen in this tick, so nothing falls between.
      const unsubscribe = hub.subscribe(send);
      if (missed) for (const message of missed) send(message);
      else send(hub.snapshotMessage());
      const heartbeat = setInterval(() => {
        if (Date.now() - lastSentMs >= heartbeatMs - 5) send(hub.heartbeatMessage());
      }, heartbeatMs);
      const close = (): void => {
        if (closed) return;
        closed = true;
        clearInterval(heartbeat);
        unsubscribe();
      };
      call.on('cancelled', close);
      call.on('close', close);
      call.on('error', close);
    },
  };
}
