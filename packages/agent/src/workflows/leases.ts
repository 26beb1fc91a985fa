import { mkdir, rename, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Lease__Output } from '@hvctl/proto';
import { failedPrecondition, invalidArgument, notFound } from '@hvctl/common';

const KEY = /^(node|resource|vm)\/[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

function checkWorkflowId(id: string): void {
  if (!/^wf-[a-z0-9-]{1,60}$/.test(id)) throw invalidArgument(`workflow_id "${id.slice(0, 70)}" is not a workflow id`);
}

export interface AcquireInput {
  readonly keys: readonly string[];
  readonly workflowId: string;
  readonly owner: string;
  readonly coordinator: string;
  readonly ttlMs: number;
}

function describe(lease: Lease__Output, now: number): string {
  const since = new Date(Number(lease.sinceUnixMs)).toISOString();
  const left = Math.max(0, Math.round((Number(lease.expiresUnixMs) - now) / 1000));
  return `${lease.key} is held by workflow ${lease.workflowId} of ${lease.owner || 'unknown'} (coordinator ${lease.coordinator}) since ${since}, expiring in ${left} s unless renewed`;
}

/**
 * The leases held on one agent. A workflow takes all its keys at once or none; the same
 * workflow may re-acquire (renew, or adopt after its coordinator changed). Expired
 * leases are ignored and dropped. Persisted so that a restart keeps them.
 */
export class LeaseTable {
  private leases = new Map<string, Lease__Output>();

  constructor(
    private readonly path: string | undefined,
    private readonly now: () => number = Date.now,
  ) {
    if (path) {
      try {
        for (const lease of JSON.parse(readFileSync(path, 'utf8')) as Lease__Output[]) this.leases.set(lease.key, lease);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
    }
  }

  list(): Lease__Output[] {
    this.expire();
    return [...this.leases.values()].sort((a, b) => a.key.localeCompare(b.key));
  }

  /** Refuses (FAILED_PRECONDITION naming the holder) when another workflow holds one of `keys`. */
  assertFree(keys: readonly string[], workflowId = ''): void {
    this.expire();
    const now = this.now();
    const held = keys.map((key) => this.leases.get(key)).filter((lease): lease is Lease__Output => !!lease && lease.workflowId !== workflowId);
    if (held.length) {
      throw failedPrecondition(held.map((lease) => describe(lease, now)).join('; '), {
        nextSteps: ['wait for that workflow (hvctl workflows), or break a stale lease with `hvctl locks break KEY` (admin, journaled)'],
      });
    }
  }

  async acquire(input: AcquireInput): Promise<Lease__Output[]> {
    if (!(input.ttlMs >= 1000 && input.ttlMs <= 600_000)) throw invalidArgument('ttl_ms must be between 1000 and 600000');
    checkWorkflowId(input.workflowId);
    for (const key of input.keys) if (!KEY.test(key)) throw invalidArgument(`lease key "${key.slice(0, 70)}" is not node/NAME, resource/NAME or vm/NAME`);
    this.assertFree(input.keys, input.workflowId);
    const now = this.now();
    const granted = input.keys.map((key): Lease__Output => ({
      key,
      workflowId: input.workflowId,
      owner: input.owner,
      coordinator: input.coordinator,
      sinceUnixMs: this.leases.get(key)?.sinceUnixMs ?? now,
      expiresUnixMs: now + input.ttlMs,
    }));
    for (const lease of granted) this.leases.set(lease.key, lease);
    await this.save();
    return granted;
  }

  async release(workflowId: string): Promise<number> {
    checkWorkflowId(workflowId);
    let released = 0;
    for (const [key, lease] of this.leases) {
      if (lease.workflowId === workflowId) {
        this.leases.delete(key);
        released += 1;
      }
    }
    if (released) await this.save();
    return released;
  }

  async breakLease(key: string): Promise<Lease__Output> {
    if (!KEY.test(key)) throw invalidArgument(`lease key "${key.slice(0, 70)}" is not node/NAME, resource/NAME or vm/NAME`);
    this.expire();
    const lease = this.leases.get(key);
    if (!lease) throw notFound(`no lease on ${key}`);
    this.leases.delete(key);
    await this.save();
    return lease;
  }

  private expire(): void {
    const now = this.now();
    for (const [key, lease] of this.leases) if (Number(lease.expiresUnixMs) <= now) this.leases.delete(key);
  }

  private async save(): Promise<void> {
    if (!this.path) return;
    await mkdir(dirname(this.path), { recursive: true });
    await writeFile(`${this.path}.tmp`, JSON.stringify([...this.leases.values()]));
    await rename(`${this.path}.tmp`, this.path);
  }
}
