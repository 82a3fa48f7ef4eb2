/**
 * The measurements of `--browser`, run inside one dedicated Web Worker in Chromium (the kind of worker the
 * encoded transforms run in). Self-contained: rows, timing loop (performance.now(), warm-up, median of repeats)
 * and the one-time byte-exactness check. No `node:` imports: this module is bundled into the worker. It also runs
 * on Node (which has the same WebCrypto and performance globals), which is how its pure parts are unit-tested.
 *
 * Rows, at each frame size:
 *   gcm               WebCrypto AES-256-GCM, key imported once, one awaited `subtle.encrypt` per frame with a fresh
 *                     12-byte IV, frames one after another: the LiveKit / Jitsi way, the reference.
 *   seal              `FrameCryptor.encrypt(frame, VIDEO, 'VP9')` (opaque format): the transport worker's real
 *                     per-frame path, @mtcall/crypto's default backend (@noble in a browser), one cryptor per row.
 *   open              `FrameCryptor.decrypt(wire, VIDEO)` over frames sealed beforehand, a fresh cryptor per batch
 *                     created before the clock starts (the replay window would reject a second pass).
 *   webcrypto-hybrid  the scheme's per-packet work with WebCrypto doing the big parts: `subtle.digest` for msg_key,
 *                     @noble SHA-256 for the two 52-byte KDF hashes, `importKey` + AES-CTR `subtle.encrypt`; output
 *                     byte-identical to `encryptPacket`. Informational: a measurement, not a library path.
 */

import { encryptPacket, nobleBackend, defaultBackend } from '@mtcall/crypto';
import type { BrowserBenchConfig, BrowserBenchResult, BrowserMeasurement, BrowserOp } from './browser-protocol.js';
import { median, poolCount } from './shared.js';

/** The stream every benchmark frame belongs to (a video transceiver with mid '1'). */
export const VIDEO = { kind: 'video', mid: '1' } as const;

/** The part of `@mtcall/transport`'s FrameCryptor the rows use (the class is passed in by the worker entry). */
export interface FrameCryptorLike {
  encrypt(frame: Uint8Array, stream: typeof VIDEO, codec?: string): Uint8Array;
  decrypt(wire: Uint8Array, stream: typeof VIDEO): { ok: true; frame: Uint8Array } | { ok: false; reason: string };
  destroy(): void;
}
export type FrameCryptorClass = new (key: Uint8Array, role: 'caller' | 'callee') => FrameCryptorLike;

type Subtle = typeof crypto.subtle;

/** A unit of work: `run()` processes exactly `opsPerRun` frames; `prepare()` (untimed) runs before each batch. */
export interface FrameWorkload {
  readonly opsPerRun: number;
  prepare?(): void;
  run(): void | Promise<void>;
}

/** Workloads fold a byte of each result in here, so no result is ever provably unused. */
export const blackhole = { value: 0 };

/** getRandomValues fills at most 65536 bytes per call. */
export function randomBytes(length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let offset = 0; offset < length; offset += 65536) crypto.getRandomValues(out.subarray(offset, Math.min(length, offset + 65536)));
  return out;
}

/**
 * `msg_key ‖ AES-256-CTR(body)` under `key` and `x`, byte-identical to @mtcall/crypto's `encryptPacket`, with
 * msg_key from `subtle.digest('SHA-256', key[88+x..120+x] ‖ body)`, the two 52-byte KDF hashes from `sha256`
 * (synchronous; @noble), and the body encrypted by `importKey` + `subtle.encrypt` (AES-CTR, 128-bit counter).
 * The body is copied once behind the 32-byte key slice (digest takes one buffer), and the ciphertext once behind
 * msg_key: the copies any real implementation of this shape would make.
 */
export function createWebCryptoHybridSealer(
  key: Uint8Array,
  x: 0 | 8 | 128 | 136,
  subtle: Subtle,
  sha256: (data: Uint8Array) => Uint8Array,
): (body: Uint8Array) => Promise<Uint8Array> {
  if (key.length !== 256) throw new RangeError('key must be 256 bytes');
  const prefix = key.slice(88 + x, 120 + x);
  const aInput = new Uint8Array(52); // msg_key ‖ key[x..x+36]
  aInput.set(key.subarray(x, x + 36), 16);
  const bInput = new Uint8Array(52); // key[40+x..76+x] ‖ msg_key
  bInput.set(key.subarray(40 + x, 76 + x), 0);
  let room = new Uint8Array(32 + 2048);
  return async (body) => {
    if (room.length < 32 + body.length) room = new Uint8Array(32 + body.length);
    const input = room.subarray(0, 32 + body.length);
    input.set(prefix, 0);
    input.set(body, 32);
    const msgKeyLarge = new Uint8Array(await subtle.digest('SHA-256', input));
    const msgKey = msgKeyLarge.subarray(8, 24);
    aInput.set(msgKey, 0);
    bInput.set(msgKey, 36);
    const a = sha256(aInput);
    const b = sha256(bInput);
    const aesKey = new Uint8Array(32);
    aesKey.set(a.subarray(0, 8), 0);
    aesKey.set(b.subarray(8, 24), 8);
    aesKey.set(a.subarray(24, 32), 24);
    const aesIv = new Uint8Array(16);
    aesIv.set(b.subarray(0, 4), 0);
    aesIv.set(a.subarray(8, 16), 4);
    aesIv.set(b.subarray(24, 28), 12);
    const cryptoKey = await subtle.importKey('raw', aesKey, 'AES-CTR', false, ['encrypt']);
    aesKey.fill(0);
    const ciphertext = await subtle.encrypt({ name: 'AES-CTR', counter: aesIv, length: 128 }, cryptoKey, body);
    const packet = new Uint8Array(16 + body.length);
    packet.set(msgKey, 0);
    packet.set(new Uint8Array(ciphertext), 16);
    return packet;
  };
}

/** Index of the first differing byte, or -1 when equal. */
function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

/**
 * Seals a random body of every size with the hybrid and with `encryptPacket` (the default backend), at x = 0 and
 * x = 8, and throws on the first byte that differs. Returns the sizes checked.
 */
export async function checkHybrid(sizes: readonly number[], subtle: Subtle = crypto.subtle): Promise<number[]> {
  const key = randomBytes(256);
  const checked = [...new Set([1, 15, 16, 17, 100, ...sizes])].sort((p, q) => p - q);
  for (const x of [0, 8] as const) {
    const hybrid = createWebCryptoHybridSealer(key, x, subtle, (d) => nobleBackend.sha256(d));
    for (const size of checked) {
      const body = randomBytes(size);
      const expected = encryptPacket(key, x, body);
      const actual = await hybrid(body);
      const at = firstDifference(actual, expected);
      if (at >= 0) {
        throw new Error(
          `webcrypto-hybrid is not byte-exact with encryptPacket (${defaultBackend.name}) at x = ${x}, ${size} B: ` +
            `first difference at byte ${at} of ${expected.length} (got length ${actual.length}); the row would measure something else`,
        );
      }
    }
  }
  return checked;
}

/** `count` random frames of `size` bytes, generated once and reused by every batch. */
export function randomFrames(size: number, count: number): Uint8Array[] {
  return Array.from({ length: count }, () => randomBytes(size));
}

/** The peers' scheme: WebCrypto AES-256-GCM, key imported once, a fresh 12-byte IV (4-byte salt ‖ 8-byte counter) per frame. */
export async function gcmWorkload(frames: readonly Uint8Array[], subtle: Subtle = crypto.subtle): Promise<FrameWorkload> {
  const key = await subtle.importKey('raw', randomBytes(32), 'AES-GCM', false, ['encrypt']);
  const salt = randomBytes(4);
  let counter = 0;
  return {
    opsPerRun: frames.length,
    async run() {
      let sink = 0;
      for (let i = 0; i < frames.length; i++) {
        counter++;
        const iv = new Uint8Array(12);
        iv.set(salt, 0);
        const view = new DataView(iv.buffer);
        view.setUint32(4, Math.floor(counter / 0x1_0000_0000));
        view.setUint32(8, counter >>> 0);
        const sealed = await subtle.encrypt({ name: 'AES-GCM', iv }, key, frames[i]!);
        sink ^= new Uint8Array(sealed, 0, 1)[0]!;
      }
      blackhole.value ^= sink;
    },
  };
}

/** `FrameCryptor.encrypt(frame, VIDEO, 'VP9')` over every frame, one cryptor (one seq counter) for the whole row. */
export function sealWorkload(FrameCryptor: FrameCryptorClass, key: Uint8Array, frames: readonly Uint8Array[]): FrameWorkload {
  const cryptor = new FrameCryptor(key, 'caller');
  return {
    opsPerRun: frames.length,
    run() {
      let sink = 0;
      for (let i = 0; i < frames.length; i++) sink ^= cryptor.encrypt(frames[i]!, VIDEO, 'VP9')[0]!;
      blackhole.value ^= sink;
    },
  };
}

/** Frames sealed by the caller's cryptor, in seq order, for the open row. */
export function sealFrames(FrameCryptor: FrameCryptorClass, key: Uint8Array, frames: readonly Uint8Array[]): Uint8Array[] {
  const cryptor = new FrameCryptor(key, 'caller');
  const sealed = frames.map((frame) => cryptor.encrypt(frame, VIDEO, 'VP9'));
  cryptor.destroy();
  return sealed;
}

/**
 * `FrameCryptor.decrypt(wire, VIDEO)` of every pre-sealed frame, in seq order, by the callee's cryptor: a fresh
 * one per batch, made in the untimed `prepare`, so every timed decrypt goes the full path (see scheme.ts for the
 * Node twin). Every result is checked: a dropped frame aborts the run instead of flattering it.
 */
export function openWorkload(FrameCryptor: FrameCryptorClass, key: Uint8Array, wires: readonly Uint8Array[]): FrameWorkload {
  let cryptor = new FrameCryptor(key, 'callee');
  return {
    opsPerRun: wires.length,
    prepare() {
      cryptor.destroy();
      cryptor = new FrameCryptor(key, 'callee');
    },
    run() {
      let sink = 0;
      let failed = 0;
      let reason = '';
      for (let i = 0; i < wires.length; i++) {
        const result = cryptor.decrypt(wires[i]!, VIDEO);
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

/** The hybrid over every frame, awaited one after another like the gcm row. */
export function hybridWorkload(key: Uint8Array, frames: readonly Uint8Array[], subtle: Subtle = crypto.subtle): FrameWorkload {
  const seal = createWebCryptoHybridSealer(key, 0, subtle, (d) => nobleBackend.sha256(d));
  return {
    opsPerRun: frames.length,
    async run() {
      let sink = 0;
      for (let i = 0; i < frames.length; i++) sink ^= (await seal(frames[i]!))[0]!;
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
    if (pending) await pending;
    timed += performance.now() - t0;
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

const formatUs = (framesPerSec: number): string => (1e6 / framesPerSec).toFixed(1);

/** The whole run: the hybrid check, then every size's four rows. `progress` gets one line per step. */
export async function runBrowserBench(
  config: BrowserBenchConfig,
  FrameCryptor: FrameCryptorClass,
  progress: (line: string) => void,
): Promise<BrowserBenchResult> {
  const hybridCheckedSizes = await checkHybrid(config.sizes);
  progress(`webcrypto-hybrid is byte-exact with encryptPacket (${defaultBackend.name}) at ${hybridCheckedSizes.join(', ')} B`);
  const measurements: BrowserMeasurement[] = [];
  for (const size of config.sizes) {
    const count = poolCount(size);
    const key = randomBytes(256);
    const frames = randomFrames(size, count);
    const wires = sealFrames(FrameCryptor, key, frames);
    const jobs: { op: BrowserOp; workload: FrameWorkload }[] = [
      { op: 'gcm', workload: await gcmWorkload(frames) },
      { op: 'seal', workload: sealWorkload(FrameCryptor, key, frames) },
      { op: 'open', workload: openWorkload(FrameCryptor, key, wires) },
      { op: 'webcrypto-hybrid', workload: hybridWorkload(key, frames) },
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
    cryptoBackend: defaultBackend.name,
    crossOriginIsolated: (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true,
    hybridCheckedSizes,
    userAgent: (globalThis as { navigator?: { userAgent?: string } }).navigator?.userAgent ?? 'unknown',
  };
}
