/** Rows, table and footer of `--browser`. Pure. */

import { BROWSER_OPS, type BrowserMeasurement, type BrowserOp } from './browser-protocol.js';
import { renderGrid, CONTENTION_WARNING, formatCount, formatMicros, formatRatio } from './table.js';

/** The `backend` of every browser row. */
export const BROWSER_BACKEND = 'chromium-worker';

/** One row of the browser report (and of `--browser --json`). */
export interface BrowserRow {
  backend: typeof BROWSER_BACKEND;
  op: BrowserOp;
  /** Frame bytes. */
  size: number;
  /** 10^6 / framesPerSec. */
  usPerFrame: number;
  framesPerSec: number;
  /** framesPerSec ÷ the gcm row's at the same size (as `ratioToGcm` of the Node rows); null without a gcm row. */
  ratioToGcm: number | null;
}

/** Adds µs/frame and the ratio to gcm; rows come out by size, then gcm, seal, open, webcrypto-hybrid. */
export function buildBrowserRows(measurements: readonly Pick<BrowserMeasurement, 'op' | 'size' | 'framesPerSec'>[]): BrowserRow[] {
  const gcm = (size: number): number | undefined => measurements.find((m) => m.op === 'gcm' && m.size === size)?.framesPerSec;
  return measurements
    .map((m): BrowserRow => {
      const reference = gcm(m.size);
      return {
        backend: BROWSER_BACKEND,
        op: m.op,
        size: m.size,
        usPerFrame: 1e6 / m.framesPerSec,
        framesPerSec: m.framesPerSec,
        ratioToGcm: reference === undefined || reference <= 0 ? null : m.framesPerSec / reference,
      };
    })
    .sort((a, b) => a.size - b.size || BROWSER_OPS.indexOf(a.op) - BROWSER_OPS.indexOf(b.op));
}

/** Which of the two ways to seal — synchronous `seal` or async `webcrypto-hybrid` — is faster at a size, and by how much. */
export interface SizeSwitch {
  size: number;
  faster: 'seal' | 'webcrypto-hybrid';
  /** µs/frame of the slower ÷ µs/frame of the faster (≥ 1). */
  factor: number;
}

/** The seal-vs-hybrid verdict at every size that has both rows. */
export function sizeSwitches(rows: readonly BrowserRow[]): SizeSwitch[] {
  const sizes = [...new Set(rows.map((r) => r.size))].sort((a, b) => a - b);
  return sizes.flatMap((size): SizeSwitch[] => {
    const seal = rows.find((r) => r.size === size && r.op === 'seal');
    const hybrid = rows.find((r) => r.size === size && r.op === 'webcrypto-hybrid');
    if (!seal || !hybrid) return [];
    return seal.usPerFrame <= hybrid.usPerFrame
      ? [{ size, faster: 'seal', factor: hybrid.usPerFrame / seal.usPerFrame }]
      : [{ size, faster: 'webcrypto-hybrid', factor: seal.usPerFrame / hybrid.usPerFrame }];
  });
}

/** Context printed under the browser table. */
export interface BrowserTableMeta {
  seconds: number;
  repeats: number;
  /** e.g. `156.0.8078.108`. */
  chromiumVersion: string;
  /** @mtcall/crypto's default backend in the worker. */
  cryptoBackend: string;
  /** Whether the worker was cross-origin isolated (timer granularity). */
  crossOriginIsolated: boolean;
  /** Sizes at which webcrypto-hybrid was checked against encryptPacket. */
  hybridCheckedSizes: readonly number[];
  /** CPUs kept busy on average by processes other than this one and its Chromium (Linux only). */
  contention?: { otherCpus: number; cpus: number };
}

const COLUMNS = ['size B', 'backend', 'op', 'µs/frame', 'frames/s', 'MB/s', '÷gcm', '×gcm µs'] as const;
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
  ]);
  const out = renderGrid(COLUMNS, LEFT, cells, rows.map((r) => r.size));
  out.push('', ...formatBrowserFooter(rows, meta));
  return `${out.join('\n')}\n`;
}

function formatBrowserFooter(rows: readonly BrowserRow[], meta: BrowserTableMeta): string[] {
  const lines = [
    `median of ${meta.repeats} × ${meta.seconds} s per row, in one dedicated Web Worker of headless Chromium ${meta.chromiumVersion}; ` +
      'each frame awaited before the next; size = frame bytes; MB = 10^6 bytes',
    "÷gcm = frames/s ÷ the gcm row's (JSON ratioToGcm); ×gcm µs = µs/frame ÷ the gcm row's (the cost ratio)",
    'gcm    = WebCrypto AES-256-GCM, key imported once, one awaited subtle.encrypt per frame (the LiveKit / Jitsi scheme)',
    `seal   = @mtcall/transport FrameCryptor.encrypt(frame, {kind: 'video', mid: '1'}, 'VP9'), @mtcall/crypto backend ${meta.cryptoBackend}`,
    'open   = FrameCryptor.decrypt of frames sealed beforehand, a fresh cryptor per batch (made before the clock starts)',
    'webcrypto-hybrid = subtle.digest (msg_key) + @noble SHA-256 ×2 (52 B) + importKey + AES-CTR subtle.encrypt per frame;',
    `                   byte-exact with encryptPacket (checked at ${meta.hybridCheckedSizes.join(', ')} B); a measurement, not a library path`,
    `timer: performance.now() in the worker, ${meta.crossOriginIsolated ? 'cross-origin isolated (5 µs granularity)' : 'not cross-origin isolated (100 µs granularity)'}`,
  ];
  if (meta.contention) {
    const { otherCpus, cpus } = meta.contention;
    lines.push(
      `other processes (not this one, not its Chromium) kept ${otherCpus.toFixed(2)} of ${cpus} CPUs busy during the measurements` +
        (otherCpus >= CONTENTION_WARNING ? ' — figures are noisy, rerun on an idle machine' : ''),
    );
  }
  const switches = sizeSwitches(rows);
  if (switches.length > 0) {
    lines.push('', 'seal (sync, noble) vs webcrypto-hybrid (async), µs/frame:');
    for (const s of switches) lines.push(`  ${String(s.size).padStart(5)} B  ${s.faster.padEnd(16)} faster by ${s.factor.toFixed(2)}×`);
  }
  return lines;
}
