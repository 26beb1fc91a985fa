import { setFlagsFromString } from 'node:v8';

/**
 * How far V8 lets the old generation grow past what survived the last full collection, in
 * percent. Left alone, V8 picks a factor between 1.1 and 4 from how fast the process
 * allocates; the console allocates fast while thousands of VMs stream (row models, Ink's
 * frames), so it settled near 4: at 100 hypervisors a ~95 MB live heap sat in a 320-350 MB
 * heap, 390-450 MB resident. At 50 % the same stream peaks at ~240 MB resident
 * (docs/benchmarks.md, "Fourth pass"). This is no cap: the heap still grows as far as the
 * live data needs; full collections only come sooner.
 */
export const HEAP_GROWING_PERCENT = 50;

/** Sets V8's heap growing factor for this process to 1 + HEAP_GROWING_PERCENT / 100. */
export function limitHeapGrowth(): void {
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
}
