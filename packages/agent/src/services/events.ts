import type { EventsServiceHandlers, WatchResponse__Output } from '@hvctl/proto';
import type { ServiceError } from '@grpc/grpc-js';
import { HvctlError, toServiceError } from '@hvctl/common';
import type { AgentContext } from '../context.js';
import { callerOf } from '../security/caller.js';

/**
 * Messages a watcher may fall behind before it is dropped. The stream is in object mode, so
 * its writableLength counts messages, not bytes. Kept well below the hub's buffer (10,000
 * deltas by default) so that a dropped watcher can still resume without a snapshot.
 */
export const WATCH_BACKLOG_LIMIT_MESSAGES = 4096;

/**
 * Watch streams one client may hold open at once. A console holds one per agent, the
 * backup site's monitor one; a client opening more is leaking streams.
 */
export const WATCH_STREAMS_PER_CLIENT = 16;

/** hvctl.v1.EventsService: snapshot, then deltas, then heartbeats while idle. */
export function eventsService(ctx: AgentContext): EventsServiceHandlers {
  const { hub, heartbeatMs } = ctx;
  /** Open streams per client: an authenticated identity, or the connection's address without one (--insecure-lab). */
  const open = new Map<string, number>();
  return {
    Watch: (call) => {
      const caller = callerOf(call);
      const client = caller.via === 'insecure' ? `peer:${call.getPeer()}` : `${caller.via}:${caller.name}`;
      const count = open.get(client) ?? 0;
      if (count >= WATCH_STREAMS_PER_CLIENT) {
        const refusal = new HvctlError('RESOURCE_EXHAUSTED', `${client} already has ${count} watch streams open on this agent; at most ${WATCH_STREAMS_PER_CLIENT} are allowed`, {
          unchanged: 'the open streams keep running',
          nextSteps: ['close watch streams you no longer read (one per agent is enough)'],
        });
        call.emit('error', toServiceError(refusal, () => undefined) as ServiceError);
        return;
      }
      open.set(client, count + 1);
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
        const left = (open.get(client) ?? 1) - 1;
        if (left > 0) open.set(client, left);
        else open.delete(client);
      };
      call.on('cancelled', close);
      call.on('close', close);
      call.on('error', close);
    },
  };
}
