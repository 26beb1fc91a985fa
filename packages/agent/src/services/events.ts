import type { EventsServiceHandlers, WatchResponse__Output } from '@hvctl/proto';
import type { AgentContext } from '../context.js';

/** Bytes a watcher may fall behind before it is dropped (it can resume later). */
export const WATCH_BACKLOG_LIMIT_BYTES = 8 * 1024 * 1024;

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
        if (call.writableLength > WATCH_BACKLOG_LIMIT_BYTES) {
          close();
          call.destroy(Object.assign(new Error('watch consumer too slow; resume from the last revision you applied'), { code: 8 }));
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
