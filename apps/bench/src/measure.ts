/**
 * The timing harness: a workload is a fixed batch of packets over pre-generated inputs; the harness warms it
 * up, then times whole batches with `process.hrtime.bigint()` until the time budget of a repeat is spent, and
 * keeps the median of the repeats. Only the batch itself is inside the timed region: clock reads, per-batch
 * preparation and bookkeeping happen between batches.
 */

/** A unit of benchmark work: `run()` processes exactly `opsPerRun` packets. */
export interface Workload {
  /** Packets one call of `run` processes. */
  readonly opsPerRun: number;
  /** Untimed preparation before each timed `run` (e.g. a fresh receiver); optional. */
  prepare?(): void;
  /** The timed work. */
  run(): void;
}

import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { median } from './shared.js';

export { median };

/**
 * A full garbage collection, when V8 lets us have one (`--expose-gc` set at run time; a no-op otherwise).
 * Run between repeats, never inside one, so a row that allocates heavily (every seal and open allocates its
 * output) does not leave its garbage to be collected on the next row's clock.
 */
export const collectGarbage: () => void = (() => {
  const existing = (globalThis as { gc?: () => void }).gc;
  if (typeof existing === 'function') return existing;
  try {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as unknown;
    if (typeof gc === 'function') return gc as () => void;
  } catch {
    // fall through
  }
  return () => {};
})();

/** Workloads fold a byte of each result in here once per batch, so no result is ever provably unused. */
export const blackhole = { value: 0 };

/** Packets per second of one repeat: batches run until `seconds` of wall time have passed (at least one batch). */
export function timeRepeat(workload: Workload, seconds: number): number {
  const budget = BigInt(Math.max(1, Math.round(seconds * 1e9)));
  const start = process.hrtime.bigint();
  let timed = 0n;
  let ops = 0;
  do {
    workload.prepare?.();
    const t0 = process.hrtime.bigint();
    workload.run();
    timed += process.hrtime.bigint() - t0;
    ops += workload.opsPerRun;
  } while (process.hrtime.bigint() - start < budget);
  return ops / (Number(timed) / 1e9);
}

/** Options of {@link measureInterleaved}. */
export interface MeasureOptions {
  /** Wall time of each timed repeat. */
  seconds: number;
  /** Wall time of the untimed warm-up of each workload. */
  warmupSeconds: number;
  /** Timed repeats per workload (the median is reported). */
  repeats: number;
  /** Called after each timed repeat. */
  onRepeat?: (index: number, repeat: number, packetsPerSec: number) => void;
}

/**
 * Warms every workload up, then runs the repeats round-robin (repeat 1 of every workload, then repeat 2, ...,
 * each round starting one workload later) so slow drift of the machine (thermal, a neighbour's load) spreads
 * over all rows instead of biasing one; a full GC (untimed) precedes every warm-up and repeat.
 * Returns the median packets/s per workload, in input order, and the raw repeats.
 */
export function measureInterleaved(workloads: readonly Workload[], options: MeasureOptions): { median: number; repeats: number[] }[] {
  for (const w of workloads) {
    collectGarbage();
    timeRepeat(w, options.warmupSeconds);
  }
  const results = workloads.map(() => [] as number[]);
  for (let r = 0; r < options.repeats; r++) {
    for (let k = 0; k < workloads.length; k++) {
      const i = (k + r) % workloads.length; // each round starts one row later: no row is always first
      collectGarbage();
      const pps = timeRepeat(workloads[i]!, options.seconds);
      results[i]!.push(pps);
      options.onRepeat?.(i, r, pps);
    }
  }
  return results.map((repeats) => ({ median: median(repeats), repeats }));
}
