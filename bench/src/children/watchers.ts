/**
 * N consoles' worth of watch streams on one agent: each its own channel calling
 * Events.Watch and applying every message, as a console's ClusterModel would.
 *
 *   node watchers.js ADDRESS COUNT      (IPC: -> ready when every stream has its snapshot)
 */
import { applyChange, createAgentClient, viewFromSnapshot, type NodeStateView } from '@hvctl/common';
import type { WatchResponse__Output } from '@hvctl/proto';
import { sendAndExit } from './exit.js';

const [address, countText] = process.argv.slice(2);
const count = Number(countText ?? 3);
if (!address) {
  process.stderr.write('usage: watchers.js ADDRESS COUNT\n');
  process.exit(2);
}
let snapshots = 0;
let messages = 0;
const clients = Array.from({ length: count }, () => createAgentClient(address));
for (const client of clients) {
  let view: NodeStateView | undefined;
  const stream = client.events.watch({ resumeEpoch: '', resumeRevision: 0 });
  stream.on('data', (message: WatchResponse__Output) => {
    messages += 1;
    if (message.event === 'snapshot' && message.snapshot) {
      view = viewFromSnapshot(message.snapshot);
      snapshots += 1;
      if (snapshots === count) process.send?.({ type: 'ready' });
    } else if (message.event === 'change' && message.change && view) view = applyChange(view, message.change);
  });
  stream.on('error', (error: Error) => process.send?.({ type: 'error', error: `watch failed: ${error.message}` }));
}
process.on('message', (message: { type?: string }) => {
  if (message?.type === 'stop') {
    for (const client of clients) client.close();
    sendAndExit({ type: 'stopped', messages }, 0);
  }
});
process.on('disconnect', () => process.exit(0));
