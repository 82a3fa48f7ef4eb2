/**
 * Messages between the Node side of `--browser` (browser.ts), the page it serves, and the benchmark worker
 * (browser-worker.ts). Types and constants only.
 */

/** The browsers `--browser` measures, in the order it measures them. */
export const BROWSERS = ['chromium', 'firefox'] as const;
export type BrowserName = (typeof BROWSERS)[number];
/** How the report names each browser. */
export const BROWSER_LABELS: Readonly<Record<BrowserName, string>> = { chromium: 'Chromium', firefox: 'Firefox ESR' };

/** The rows of a browser run, in table order within a size (the reference first). */
export const BROWSER_OPS = ['gcm', 'seal', 'open', 'seal-sync', 'seal-webcrypto', 'seal-noble', 'gcm-paced', 'seal-paced', 'open-paced', 'seal-sync-paced', 'seal-webcrypto-paced'] as const;
export type BrowserOp = (typeof BROWSER_OPS)[number];
/** The paced rows' gap between frames (ms): a 1:1 video call's worker handles a frame every ~7 ms per direction. */
export const PACED_GAP_MS = 8;

/** What the page posts to the worker to start. */
export interface BrowserBenchConfig {
  sizes: number[];
  /** Wall time of each timed repeat. */
  seconds: number;
  /** Wall time of the untimed warm-up of each row. */
  warmupSeconds: number;
  /** Timed repeats per row; the median is reported. */
  repeats: number;
}

/** One row's rate as the worker measured it. */
export interface BrowserMeasurement {
  op: BrowserOp;
  /** Frame bytes. */
  size: number;
  /** Median frames per second of the repeats. */
  framesPerSec: number;
  /** Frames per second of every repeat, in the order they ran. */
  repeats: number[];
}

/** Everything the worker reports at the end. */
export interface BrowserBenchResult {
  measurements: BrowserMeasurement[];
  /** @mtcall/crypto's default backend inside the worker (`noble` in a browser). */
  cryptoBackend: string;
  /** Whether the worker was cross-origin isolated (performance.now() then has 5 µs instead of 100 µs granularity). */
  crossOriginIsolated: boolean;
  /** Frame sizes at which the default, synchronous-only and Web-Crypto-only cryptors were checked to give the same wire bytes. */
  checkedSizes: number[];
  userAgent: string;
}

/** Worker → page. */
export type FromBenchWorker =
  | { type: 'progress'; line: string }
  | { type: 'done'; result: BrowserBenchResult }
  | { type: 'error'; message: string };
