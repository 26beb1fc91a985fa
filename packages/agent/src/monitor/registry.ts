import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { ClusterSnapshot, Logger } from '@hvctl/common';
import type { Domain__Output, KnownVm__Output, StateChange__Output } from '@hvctl/proto';

/** What the registry publishes: one delta per learned, changed or forgotten VM. */
export type PublishFn = (change: StateChange__Output) => void;

const isActive = (domain: Domain__Output): boolean => domain.state === 'DOMAIN_STATE_RUNNING' || domain.state === 'DOMAIN_STATE_PAUSED';

const sameEntry = (a: KnownVm__Output, b: KnownVm__Output): boolean =>
  a.ip === b.ip &&
  a.resource === b.resource &&
  a.pair.join() === b.pair.join() &&
  a.lastNode === b.lastNode &&
  a.intent === b.intent &&
  Number(a.intentSetUnixMs) === Number(b.intentSetUnixMs) &&
  a.intentSetBy === b.intentSetBy;

/** How far `lastSeenUnixMs` may lag before it alone is worth a write (it is "seen at least until"). */
const SEEN_RESOLUTION_MS = 600_000;

/**
 * Folds what the reachable nodes report into the registry: every VM any of them defines,
 * its IP, resource, pair (the diskful replicas), the node it runs on (kept from before
 * while it runs nowhere visible) and its newest intent (the registry's own counts: newest
 * wins). Pure; returns the entries that changed.
 */
export function foldSnapshot(known: ReadonlyMap<string, KnownVm__Output>, snapshot: ClusterSnapshot, nowMs: number): KnownVm__Output[] {
  const seen = new Map<string, { node: string; domain: Domain__Output }[]>();
  const pairs = new Map<string, Set<string>>();
  for (const connection of snapshot.nodes) {
    if (!connection.reachable || !connection.state) continue;
    for (const domain of connection.state.domains.values()) {
      const list = seen.get(domain.name) ?? [];
      list.push({ node: connection.name, domain });
      seen.set(domain.name, list);
    }
    for (const resource of connection.state.resources.values()) {
      if (resource.client) continue;
      const pair = pairs.get(resource.name) ?? new Set<string>();
      pair.add(connection.name);
      for (const peer of resource.peers) if (!peer.peerClient) pair.add(peer.node);
      pairs.set(resource.name, pair);
    }
  }
  const changed: KnownVm__Output[] = [];
  for (const [name, list] of seen) {
    const before = known.get(name);
    const first = list[0] as { node: string; domain: Domain__Output };
    const resource = first.domain.resources[0] ?? before?.resource ?? '';
    const running = list.find((entry) => isActive(entry.domain));
    const newestDefinition = [...list].sort((a, b) => Number(b.domain.stateChangedUnixMs) - Number(a.domain.stateChangedUnixMs))[0] as typeof first;
    let intent = { intent: before?.intent ?? 'DOMAIN_INTENT_UNSPECIFIED', at: Number(before?.intentSetUnixMs ?? 0), by: before?.intentSetBy ?? '' };
    for (const { domain } of list) {
      if (domain.intent !== 'DOMAIN_INTENT_UNSPECIFIED' && Number(domain.intentSetUnixMs) > intent.at) {
        intent = { intent: domain.intent, at: Number(domain.intentSetUnixMs), by: domain.intentSetBy };
      }
    }
    const entry: KnownVm__Output = {
      name,
      ip: first.domain.ip || before?.ip || '',
      resource,
      pair: [...(pairs.get(resource) ?? new Set(before?.pair ?? []))].sort(),
      lastNode: running?.node ?? before?.lastNode ?? newestDefinition.node,
      intent: intent.intent,
      intentSetUnixMs: intent.at,
      intentSetBy: intent.by,
      lastSeenUnixMs: nowMs,
    };
    if (!before || !sameEntry(before, entry) || nowMs - Number(before.lastSeenUnixMs) >= SEEN_RESOLUTION_MS) changed.push(entry);
  }
  return changed;
}

export interface VmRegistryOptions {
  /** JSON file the registry lives in (the watcher's state directory). */
  readonly path: string;
  readonly publish: PublishFn;
  readonly logger: Logger;
}

/**
 * The backup site's registry of every VM the cluster watcher has seen, persisted so that
 * a VM stays known across a watcher restart while both nodes of its pair are down. Entries
 * are published into this agent's node state stream (`known_vm`), where every watcher's
 * ClusterModel receives them and `buildTopology` lists a VM no reachable node defines as
 * `unknown`, where it last ran. An entry goes only when an operator forgets it.
 */
export class VmRegistry {
  private known = new Map<string, KnownVm__Output>();
  private writing: Promise<void> = Promise.resolve();

  constructor(private readonly options: VmRegistryOptions) {}

  /** Loads the persisted registry and publishes every entry. */
  async load(): Promise<void> {
    try {
      const entries = JSON.parse(await readFile(this.options.path, 'utf8')) as KnownVm__Output[];
      this.known = new Map(entries.map((entry) => [entry.name, entry]));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') this.options.logger.warn({ err: error }, 'the VM registry could not be read; starting empty');
    }
    for (const entry of this.known.values()) this.options.publish({ change: 'knownVm', knownVm: entry });
  }

  entries(): KnownVm__Output[] {
    return [...this.known.values()];
  }

  /** Folds a snapshot in; publishes and persists what changed. */
  observe(snapshot: ClusterSnapshot, nowMs: number): Promise<void> {
    const changed = foldSnapshot(this.known, snapshot, nowMs);
    if (!changed.length) return this.writing;
    for (const entry of changed) {
      this.known.set(entry.name, entry);
      this.options.publish({ change: 'knownVm', knownVm: entry });
    }
    return this.persist();
  }

  /** Removes a VM (an operator deleted it); false when it was not known. */
  async forget(name: string): Promise<boolean> {
    if (!this.known.delete(name)) return false;
    this.options.publish({ change: 'knownVmRemoved', knownVmRemoved: name });
    await this.persist();
    return true;
  }

  /** Writes the whole registry (small: one entry per VM) with a rename, one write after the other. */
  private persist(): Promise<void> {
    const entries = this.entries();
    const write = this.writing.then(async () => {
      await mkdir(dirname(this.options.path), { recursive: true });
      const temporary = `${this.options.path}.tmp`;
      await writeFile(temporary, JSON.stringify(entries));
      await rename(temporary, this.options.path);
    });
    this.writing = write.catch((error: unknown) => this.options.logger.error({ err: error }, 'the VM registry could not be written'));
    return this.writing;
  }
}
