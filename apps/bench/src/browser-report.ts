/** Rows, table and footer of `--browser`. Pure. */

import { BROWSER_OPS, PACED_GAP_MS, type BrowserMeasurement, type BrowserName, type BrowserOp } from './browser-protocol.js';
import { renderGrid, CONTENTION_WARNING, formatCount, formatMicros, formatRatio } from './table.js';

/** The `backend` of a browser row: the browser whose worker measured it. */
export type BrowserBackend = `${BrowserName}-worker`;

/** One row of the browser report (and of `--browser --json`). */
export interface BrowserRow {
  backend: BrowserBackend;
  op: BrowserOp;
  /** Frame bytes. */
  size: number;
  /** 10^6 / framesPerSec. */
  usPerFrame: number;
  framesPerSec: number;
  /** framesPerSec ÷ the gcm row's at the same size (as `ratioToGcm` of the Node rows); null without a gcm row. */
  ratioToGcm: number | null;
  /**
   * The cost ratio to gcm (µs/frame ÷ gcm's) ÷ the scheme's floor at this size (`SCHEME_FLOOR`): 1 is the best any
   * implementation of the scheme can do against GCM; null without a gcm row or a floor for the size.
   */
  ratioToFloor: number | null;
}

/**
 * The scheme's floor against AES-256-GCM per frame size: (SHA-256 over 32+B, two over 52 B, AES-256-CTR over B)
 * ÷ (AES-256-GCM over B), from `openssl speed` on this kind of machine (../shared/PERF-FACTS.md, last column): two
 * passes over the body and a fresh AES key per packet against one pass with a fixed key. No implementation of the
 * scheme costs less than this many times GCM.
 */
export const SCHEME_FLOOR: Readonly<Record<number, number>> = { 64: 0.97, 160: 1.23, 1200: 2.0, 4096: 2.7, 65536: 3.3 };

/**
 * Adds µs/frame and the ratios to gcm and to the floor (gcm measured in the same browser); rows come out by size,
 * then in `BROWSER_OPS` order.
 */
export function buildBrowserRows(measurements: readonly Pick<BrowserMeasurement, 'op' | 'size' | 'framesPerSec'>[], browser: BrowserName = 'chromium'): BrowserRow[] {
  // A paced row's reference is the paced gcm row: both pay the same cold start.
  const gcm = (size: number, op: BrowserOp): number | undefined => {
    const reference = op.endsWith('-paced') ? 'gcm-paced' : 'gcm';
    return measurements.find((m) => m.op === reference && m.size === size)?.framesPerSec;
  };
  return measurements
    .map((m): BrowserRow => {
      const reference = gcm(m.size, m.op);
      const floor = SCHEME_FLOOR[m.size];
      const ratioToGcm = reference === undefined || reference <= 0 ? null : m.framesPerSec / reference;
      return {
        backend: `${browser}-worker`,
        op: m.op,
        size: m.size,
        usPerFrame: 1e6 / m.framesPerSec,
        framesPerSec: m.framesPerSec,
        ratioToGcm,
        ratioToFloor: ratioToGcm === null || ratioToGcm <= 0 || floor === undefined ? null : 1 / ratioToGcm / floor,
      };
    })
    .sort((a, b) => a.size - b.size || BROWSER_OPS.indexOf(a.op) - BROWSER_OPS.indexOf(b.op));
}

/** Which of the two ways to seal — `seal-sync` or `seal-webcrypto` — is faster at a size, and by how much. */
export interface SizeSwitch {
  size: number;
  faster: 'seal-sync' | 'seal-webcrypto';
  /** µs/frame of the slower ÷ µs/frame of the faster (≥ 1). */
  factor: number;
}

/** The seal-sync-vs-seal-webcrypto verdict at every size that has both rows (`paced`: their paced rows). */
export function sizeSwitches(rows: readonly BrowserRow[], paced = false): SizeSwitch[] {
  const sizes = [...new Set(rows.map((r) => r.size))].sort((a, b) => a - b);
  const suffix = paced ? '-paced' : '';
  return sizes.flatMap((size): SizeSwitch[] => {
    const sync = rows.find((r) => r.size === size && r.op === `seal-sync${suffix}`);
    const web = rows.find((r) => r.size === size && r.op === `seal-webcrypto${suffix}`);
    if (!sync || !web) return [];
    return sync.usPerFrame <= web.usPerFrame
      ? [{ size, faster: 'seal-sync', factor: web.usPerFrame / sync.usPerFrame }]
      : [{ size, faster: 'seal-webcrypto', factor: sync.usPerFrame / web.usPerFrame }];
  });
}

/** Context printed under the browser table. */
export interface BrowserTableMeta {
  seconds: number;
  repeats: number;
  /** The browser and its version, e.g. `Chromium 156.0.8078.108`. */
  browser: string;
  /** @mtcall/crypto's default backend in the worker. */
  cryptoBackend: string;
  /** Whether the worker was cross-origin isolated (timer granularity). */
  crossOriginIsolated: boolean;
  /** Sizes at which the three cryptors' wire bytes were checked equal. */
  checkedSizes: readonly number[];
  /** CPUs kept busy on average by processes other than this one and its browser (Linux only). */
  contention?: { otherCpus: number; cpus: number };
}

const COLUMNS = ['size B', 'backend', 'op', 'µs/frame', 'frames/s', 'MB/s', '÷gcm', '×gcm µs', '×floor'] as const;
const LEFT = new Set<string>(['backend', 'op']);

/** The table and its footer, ending with a newline. */
export function formatBrowserTable(rows: readonly BrowserRow[], meta: BrowserTableMeta): string {
  const cells = rows.map((r) => [
    String(r.size),
    r.backend,
    r.op,
    formatMicros(r.framesPerSec),
    formatCount(r.framesPerSec),
    ((r.size * r.framesPerSec) / 1e6).toFixed(1),
    formatRatio(r.ratioToGcm),
    formatRatio(r.ratioToGcm === null || r.ratioToGcm <= 0 ? null : 1 / r.ratioToGcm),
    r.op === 'gcm' || r.op === 'gcm-paced' ? '' : formatRatio(r.ratioToFloor),
  ]);
  const out = renderGrid(COLUMNS, LEFT, cells, rows.map((r) => r.size));
  out.push('', ...formatBrowserFooter(rows, meta));
  return `${out.join('\n')}\n`;
}

function formatBrowserFooter(rows: readonly BrowserRow[], meta: BrowserTableMeta): string[] {
  const lines = [
    `median of ${meta.repeats} × ${meta.seconds} s per row, in one dedicated Web Worker of headless ${meta.browser}; ` +
      'each frame awaited before the next; size = frame bytes; MB = 10^6 bytes',
    "÷gcm = frames/s ÷ the gcm row's (JSON ratioToGcm); ×gcm µs = µs/frame ÷ the gcm row's (the cost ratio)",
    'gcm    = WebCrypto AES-256-GCM, key imported once, one awaited subtle.encrypt per frame (the LiveKit / Jitsi scheme)',
    `seal   = await @mtcall/transport FrameCryptor.encryptAsync(frame, {kind: 'video', mid: '1'}, 'VP9'): the worker's own path,`,
    `         its size switch included (synchronous backend ${meta.cryptoBackend} below it, Web Crypto from it)`,
    'open   = await FrameCryptor.decryptAsync of frames sealed beforehand, a fresh cryptor per batch (made before the clock starts)',
    'seal-sync = the synchronous path alone (no async backend); seal-webcrypto = the Web Crypto path alone (switch at 0 B)',
    'seal-noble = the synchronous path on @noble alone (the browsers\' backend before the WebAssembly SHA-256)',
    `*-paced = the rows above at a call's pace: one frame every ${PACED_GAP_MS} ms (the thread idle between), only the frame's own call`,
    '         counted; ratios against gcm-paced. A hot loop keeps code and caches warm, a call does not.',
    `         the four cryptors give the same wire bytes (checked at ${meta.checkedSizes.join(', ')} B)`,
    '×floor = ×gcm µs ÷ the scheme floor at the size (two passes and a fresh AES key per packet vs GCM, openssl speed,',
    '         ../shared/PERF-FACTS.md): 1.00× is the best any implementation of the scheme can reach',
    `timer: performance.now() in the worker, ${meta.crossOriginIsolated ? 'cross-origin isolated (5 µs granularity)' : 'not cross-origin isolated (100 µs granularity)'}`,
  ];
  if (meta.contention) {
    const { otherCpus, cpus } = meta.contention;
    lines.push(
      `other processes (not this one, not its browser) kept ${otherCpus.toFixed(2)} of ${cpus} CPUs busy during the measurements` +
        (otherCpus >= CONTENTION_WARNING ? ' — figures are noisy, rerun on an idle machine' : ''),
    );
  }
  for (const paced of [false, true]) {
    const switches = sizeSwitches(rows, paced);
    if (switches.length === 0) continue;
    lines.push('', `seal-sync vs seal-webcrypto, µs/frame (where the switch belongs)${paced ? `, at a call's pace (one frame every ${PACED_GAP_MS} ms)` : ', hot loop'}:`);
    for (const s of switches) lines.push(`  ${String(s.size).padStart(5)} B  ${s.faster.padEnd(16)} faster by ${s.factor.toFixed(2)}×`);
  }
  return lines;
}
