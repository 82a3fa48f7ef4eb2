/**
 * The measurements of `--browser`, run inside one dedicated Web Worker of a browser (Chromium, Firefox ESR: the
 * kind of worker the encoded transforms run in). Self-contained: rows, timing loop (performance.now(), warm-up, median of repeats)
 * and the one-time byte-exactness check. No `node:` imports: this module is bundled into the worker. It also runs
 * on Node (which has the same WebCrypto and performance globals), which is how its pure parts are unit-tested.
 *
 * Rows, at each frame size:
 *   gcm             WebCrypto AES-256-GCM, key imported once, one awaited `subtle.encrypt` per frame with a fresh
 *                   12-byte IV, frames one after another: the LiveKit / Jitsi way, the reference.
 *   seal            `await FrameCryptor.encryptAsync(frame, VIDEO, 'VP9')` with the cryptor's defaults: exactly what
 *                   the transport worker runs per frame (its size switch between the synchronous backend and Web
 *                   Crypto included), one cryptor per row.
 *   open            `await FrameCryptor.decryptAsync(wire, VIDEO)` over frames sealed beforehand, a fresh cryptor
 *                   per batch created before the clock starts (the replay window would reject a second pass).
 *   seal-sync       `encryptAsync` on a cryptor without the async backend: the synchronous path alone.
 *   seal-webcrypto  `encryptAsync` with the switch at 0 bytes: the Web Crypto path alone. These two tune the switch.
 *   seal-noble      the synchronous path on @noble alone (the browsers' backend before the WebAssembly SHA-256).
 *   gcm-paced, seal-paced, open-paced, seal-sync-paced, seal-webcrypto-paced
 *                   the gcm, seal, open, seal-sync and seal-webcrypto rows at a call's pace: one frame every `PACED_GAP_MS` (a timer between
 *                   frames, so the thread goes idle as an encoded transform's does between frames), only the frame's
 *                   own awaited call counted. A hot loop keeps code, tables and caches warm; a call does not: these
 *                   rows measure the difference (issue 17: a frame in a call costs several times the hot loop).
 */

import { nobleBackend, preferredBackend, type CryptoBackend } from '@mtcall/crypto';
import { PACED_GAP_MS, type BrowserBenchConfig, type BrowserBenchResult, type BrowserMeasurement, type BrowserOp } from './browser-protocol.js';
import { median, poolCount } from './shared.js';

/** The stream every benchmark frame belongs to (a video transceiver with mid '1'). */
export const VIDEO = { kind: 'video', mid: '1' } as const;

/** The part of `@mtcall/transport`'s FrameCryptor the rows use (the class is passed in by the worker entry). */
export interface FrameCryptorLike {
  encryptAsync(frame: Uint8Array, stream: typeof VIDEO, codec?: string): Promise<Uint8Array>;
  decryptAsync(wire: Uint8Array, stream: typeof VIDEO): Promise<{ ok: true; frame: Uint8Array } | { ok: false; reason: string }>;
  destroy(): void;
}
/** The FrameCryptor options the rows use: none (the worker's defaults), or one of the two below. */
export interface FrameCryptorRowOptions {
  backend?: CryptoBackend;
  asyncBackend?: null;
  asyncThreshold?: number;
}
export type FrameCryptorClass = new (key: Uint8Array, role: 'caller' | 'callee', options?: FrameCryptorRowOptions) => FrameCryptorLike;

/** The synchronous path alone (no async backend). */
export const SYNC_ONLY: FrameCryptorRowOptions = { asyncBackend: null };
/** The Web Crypto path alone (switch at 0 bytes). */
export const ASYNC_ONLY: FrameCryptorRowOptions = { asyncThreshold: 0 };
/** The synchronous path alone on @noble: the browsers' backend before the WebAssembly SHA-256 (for before/after). */
export const NOBLE_ONLY: FrameCryptorRowOptions = { backend: nobleBackend, asyncBackend: null };

type Subtle = typeof crypto.subtle;

/**
 * A unit of work: `run()` processes exactly `opsPerRun` frames; `prepare()` (untimed) runs before each batch. A run
 * that resolves to a number counts that many milliseconds instead of its wall time (the paced rows: pauses excluded).
 */
export interface FrameWorkload {
  readonly opsPerRun: number;
  prepare?(): void;
  run(): void | Promise<void | number>;
}

/** Frames per batch of a paced row. */
export const PACED_FRAMES = 20;

/**
 * A paced row: `step(i)` for frames 0 … frames − 1, `gapMs` of idle timer wait before each, only the steps timed.
 * `prepare` (untimed) runs before each batch.
 */
export function pacedWorkload(step: (i: number) => Promise<void>, options: { prepare?: () => void; frames?: number; gapMs?: number } = {}): FrameWorkload {
  const frames = options.frames ?? PACED_FRAMES;
  const gapMs = options.gapMs ?? PACED_GAP_MS;
  return {
    opsPerRun: frames,
    ...(options.prepare ? { prepare: options.prepare } : {}),
    async run() {
      let timed = 0;
      for (let i = 0; i < frames; i++) {
        await new Promise((resolve) => setTimeout(resolve, gapMs));
        const t0 = performance.now();
        await step(i);
        timed += performance.now() - t0;
      }
      return timed;
    },
  };
}

/** Workloads fold a byte of each result in here, so no result is ever provably unused. */
export const blackhole = { value: 0 };

/** getRandomValues fills at most 65536 bytes per call. */
export function randomBytes(length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let offset = 0; offset < length; offset += 65536) crypto.getRandomValues(out.subarray(offset, Math.min(length, offset + 65536)));
  return out;
}

/** Index of the first differing byte, or -1 when equal. */
function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

/**
 * Seals the same random frames of every size with the three cryptors of the rows (default, synchronous only, Web
 * Crypto only; same key, same seqs) and throws on the first byte that differs, so no row measures something other
 * than the wire format. Returns the sizes checked.
 */
export async function checkPaths(FrameCryptor: FrameCryptorClass, sizes: readonly number[]): Promise<number[]> {
  const key = randomBytes(256);
  const checked = [...new Set([0, 1, 15, 16, 17, 100, 511, 512, 513, ...sizes])].sort((p, q) => p - q);
  const cryptors = [new FrameCryptor(key, 'caller'), ...[SYNC_ONLY, ASYNC_ONLY, NOBLE_ONLY].map((o) => new FrameCryptor(key, 'caller', o))];
  try {
    for (const size of checked) {
      const frame = randomBytes(size);
      const [expected, ...others] = await Promise.all(cryptors.map((c) => c.encryptAsync(frame, VIDEO, 'VP9')));
      others.forEach((actual, i) => {
        const at = firstDifference(actual, expected!);
        if (at >= 0) {
          throw new Error(
            `FrameCryptor's ${['synchronous', 'Web Crypto', '@noble'][i]} path differs from its default at ${size} B: first difference at byte ` +
              `${at} of ${expected!.length} (got length ${actual.length}); the rows would measure something else`,
          );
        }
      });
    }
  } finally {
    for (const c of cryptors) c.destroy();
  }
  return checked;
}

/** `count` random frames of `size` bytes, generated once and reused by every batch. */
export function randomFrames(size: number, count: number): Uint8Array[] {
  return Array.from({ length: count }, () => randomBytes(size));
}

/**
 * The peers' scheme: WebCrypto AES-256-GCM, key imported once, a fresh 12-byte IV (4-byte salt ‖ 8-byte counter) per
 * frame. Returns the key and the IV source; callers await `subtle.encrypt` themselves, so the hot row times the call
 * and nothing wrapped around it.
 */
async function gcmKey(subtle: Subtle): Promise<{ key: Awaited<ReturnType<Subtle['importKey']>>; nextIv: () => Uint8Array<ArrayBuffer> }> {
  const key = await subtle.importKey('raw', randomBytes(32), 'AES-GCM', false, ['encrypt']);
  const salt = randomBytes(4);
  let counter = 0;
  return {
    key,
    nextIv() {
      counter++;
      const iv = new Uint8Array(12);
      iv.set(salt, 0);
      const view = new DataView(iv.buffer);
      view.setUint32(4, Math.floor(counter / 0x1_0000_0000));
      view.setUint32(8, counter >>> 0);
      return iv;
    },
  };
}

/** The peers' scheme over every frame, one after another (see `gcmKey`). */
export async function gcmWorkload(frames: readonly Uint8Array[], subtle: Subtle = crypto.subtle): Promise<FrameWorkload> {
  const { key, nextIv } = await gcmKey(subtle);
  return {
    opsPerRun: frames.length,
    async run() {
      let sink = 0;
      for (let i = 0; i < frames.length; i++) sink ^= new Uint8Array(await subtle.encrypt({ name: 'AES-GCM', iv: nextIv() }, key, frames[i]! as Uint8Array<ArrayBuffer>), 0, 1)[0]!;
      blackhole.value ^= sink;
    },
  };
}

/** `await encryptAsync(frame, VIDEO, 'VP9')` over every frame, one cryptor (one seq counter) for the whole row. */
export function sealWorkload(FrameCryptor: FrameCryptorClass, key: Uint8Array, frames: readonly Uint8Array[], options?: FrameCryptorRowOptions): FrameWorkload {
  const cryptor = new FrameCryptor(key, 'caller', options);
  return {
    opsPerRun: frames.length,
    async run() {
      let sink = 0;
      for (let i = 0; i < frames.length; i++) sink ^= (await cryptor.encryptAsync(frames[i]!, VIDEO, 'VP9'))[0]!;
      blackhole.value ^= sink;
    },
  };
}

/** Frames sealed by the caller's cryptor, in seq order, for the open row. */
export async function sealFrames(FrameCryptor: FrameCryptorClass, key: Uint8Array, frames: readonly Uint8Array[]): Promise<Uint8Array[]> {
  const cryptor = new FrameCryptor(key, 'caller');
  const sealed: Uint8Array[] = [];
  for (const frame of frames) sealed.push(await cryptor.encryptAsync(frame, VIDEO, 'VP9'));
  cryptor.destroy();
  return sealed;
}

/**
 * `await decryptAsync(wire, VIDEO)` of every pre-sealed frame, in seq order, by the callee's cryptor: a fresh one
 * per batch, made in the untimed `prepare`, so every timed decrypt goes the full path (see scheme.ts for the Node
 * twin). Every result is checked: a dropped frame aborts the run instead of flattering it.
 */
export function openWorkload(FrameCryptor: FrameCryptorClass, key: Uint8Array, wires: readonly Uint8Array[]): FrameWorkload {
  let cryptor = new FrameCryptor(key, 'callee');
  return {
    opsPerRun: wires.length,
    prepare() {
      cryptor.destroy();
      cryptor = new FrameCryptor(key, 'callee');
    },
    async run() {
      let sink = 0;
      let failed = 0;
      let reason = '';
      for (let i = 0; i < wires.length; i++) {
        const result = await cryptor.decryptAsync(wires[i]!, VIDEO);
        if (result.ok) sink ^= result.frame.length;
        else {
          failed++;
          reason = result.reason;
        }
      }
      if (failed !== 0) throw new Error(`open: ${failed} frame(s) dropped (last reason ${reason}); the benchmark is invalid`);
      blackhole.value ^= sink;
    },
  };
}

/** A full GC when the engine exposes one (Chromium started with --js-flags=--expose-gc); a no-op otherwise. */
function collectGarbage(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

/** Frames per second of one repeat: batches run until `seconds` of wall time have passed (at least one batch). */
export async function timeRepeat(workload: FrameWorkload, seconds: number): Promise<number> {
  const budget = seconds * 1000;
  const start = performance.now();
  let timed = 0;
  let ops = 0;
  do {
    workload.prepare?.();
    const t0 = performance.now();
    const pending = workload.run();
    const counted = pending ? await pending : undefined;
    timed += typeof counted === 'number' ? counted : performance.now() - t0;
    ops += workload.opsPerRun;
  } while (performance.now() - start < budget);
  return ops / (timed / 1000);
}

/**
 * Warms every workload up, then runs the repeats round-robin (each round starting one row later), a GC before
 * every warm-up and repeat; the median frames/s per workload, in input order, with the raw repeats.
 */
export async function measureInterleaved(
  workloads: readonly FrameWorkload[],
  options: { seconds: number; warmupSeconds: number; repeats: number },
): Promise<{ median: number; repeats: number[] }[]> {
  for (const w of workloads) {
    collectGarbage();
    await timeRepeat(w, options.warmupSeconds);
  }
  const results = workloads.map(() => [] as number[]);
  for (let r = 0; r < options.repeats; r++) {
    for (let k = 0; k < workloads.length; k++) {
      const i = (k + r) % workloads.length;
      collectGarbage();
      results[i]!.push(await timeRepeat(workloads[i]!, options.seconds));
    }
  }
  return results.map((repeats) => ({ median: median(repeats), repeats }));
}

/** The paced rows at one size (see the header), one frame every `PACED_GAP_MS`. */
async function pacedJobs(FrameCryptor: FrameCryptorClass, key: Uint8Array, frames: readonly Uint8Array[], wires: readonly Uint8Array[]): Promise<{ op: BrowserOp; workload: FrameWorkload }[]> {
  const subtle = crypto.subtle;
  const { key: gcmKeyPaced, nextIv } = await gcmKey(subtle);
  const sealer = new FrameCryptor(key, 'caller');
  const syncSealer = new FrameCryptor(key, 'caller', SYNC_ONLY);
  const webSealer = new FrameCryptor(key, 'caller', ASYNC_ONLY);
  let opener = new FrameCryptor(key, 'callee');
  let next = 0;
  const frame = () => frames[next++ % frames.length]!;
  return [
    { op: 'gcm-paced', workload: pacedWorkload(async () => void (blackhole.value ^= new Uint8Array(await subtle.encrypt({ name: 'AES-GCM', iv: nextIv() }, gcmKeyPaced, frame() as Uint8Array<ArrayBuffer>), 0, 1)[0]!)) },
    { op: 'seal-paced', workload: pacedWorkload(async () => void (blackhole.value ^= (await sealer.encryptAsync(frame(), VIDEO, 'VP9'))[0]!)) },
    { op: 'seal-sync-paced', workload: pacedWorkload(async () => void (blackhole.value ^= (await syncSealer.encryptAsync(frame(), VIDEO, 'VP9'))[0]!)) },
    { op: 'seal-webcrypto-paced', workload: pacedWorkload(async () => void (blackhole.value ^= (await webSealer.encryptAsync(frame(), VIDEO, 'VP9'))[0]!)) },
    {
      op: 'open-paced',
      workload: pacedWorkload(
        async (i) => {
          const result = await opener.decryptAsync(wires[i % wires.length]!, VIDEO);
          if (!result.ok) throw new Error(`open-paced: frame ${i} dropped (${result.reason}); the benchmark is invalid`);
          blackhole.value ^= result.frame.length;
        },
        // A fresh cryptor per batch, its frames from seq 1 on: every timed decrypt goes the full path.
        { prepare: () => (opener.destroy(), (opener = new FrameCryptor(key, 'callee'))), frames: Math.min(PACED_FRAMES, wires.length) },
      ),
    },
  ];
}

const formatUs = (framesPerSec: number): string => (1e6 / framesPerSec).toFixed(1);

/** The whole run: the paths check, then every size's rows. `progress` gets one line per step. */
export async function runBrowserBench(
  config: BrowserBenchConfig,
  FrameCryptor: FrameCryptorClass,
  progress: (line: string) => void,
): Promise<BrowserBenchResult> {
  const checkedSizes = await checkPaths(FrameCryptor, config.sizes);
  progress(`FrameCryptor's default, synchronous and Web Crypto paths give the same wire bytes at ${checkedSizes.join(', ')} B`);
  const measurements: BrowserMeasurement[] = [];
  for (const size of config.sizes) {
    const count = poolCount(size);
    const key = randomBytes(256);
    const frames = randomFrames(size, count);
    const wires = await sealFrames(FrameCryptor, key, frames);
    const jobs: { op: BrowserOp; workload: FrameWorkload }[] = [
      { op: 'gcm', workload: await gcmWorkload(frames) },
      { op: 'seal', workload: sealWorkload(FrameCryptor, key, frames) },
      { op: 'open', workload: openWorkload(FrameCryptor, key, wires) },
      { op: 'seal-sync', workload: sealWorkload(FrameCryptor, key, frames, SYNC_ONLY) },
      { op: 'seal-webcrypto', workload: sealWorkload(FrameCryptor, key, frames, ASYNC_ONLY) },
      { op: 'seal-noble', workload: sealWorkload(FrameCryptor, key, frames, NOBLE_ONLY) },
      ...(await pacedJobs(FrameCryptor, key, frames, wires)),
    ];
    progress(`${size} B: ${count} distinct frames, warming up ${jobs.length} rows`);
    const results = await measureInterleaved(jobs.map((j) => j.workload), config);
    jobs.forEach((job, i) => {
      const { median: framesPerSec, repeats } = results[i]!;
      measurements.push({ op: job.op, size, framesPerSec, repeats });
      progress(`${size} B ${job.op}: ${formatUs(framesPerSec)} µs/frame (repeats ${repeats.map(formatUs).join(' / ')})`);
    });
  }
  return {
    measurements,
    cryptoBackend: preferredBackend().name,
    crossOriginIsolated: (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true,
    checkedSizes,
    userAgent: (globalThis as { navigator?: { userAgent?: string } }).navigator?.userAgent ?? 'unknown',
  };
}
