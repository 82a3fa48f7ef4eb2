/**
 * Pure helpers shared by the Node harness and the browser worker's harness. No `node:` imports: this module is
 * bundled into the Chromium worker of `--browser`.
 */

/** Bytes of input a workload cycles through: large enough not to sit in L1/L2 unrealistically, small enough to pre-generate. */
const POOL_BYTES = 4 * 1024 * 1024;

/** Distinct inputs (bodies, packets) per workload for a body size: ~4 MiB worth, between 8 and 4096. */
export function poolCount(size: number): number {
  return Math.min(4096, Math.max(8, Math.floor(POOL_BYTES / size)));
}

/** The median of a non-empty list (mean of the middle two for an even count). */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('median of an empty list');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
