/**
 * The `native` reference row: the scheme's per-packet primitives as fast as this machine's OpenSSL runs them
 * in C, from `openssl speed` (run fresh every time, nothing cached):
 *
 *   cost(B) = t_sha256(32 + B) + 2 · t_sha256(52) + t_aes256ctr(B),   packets/s = 1 / cost(B)
 *
 * `openssl speed -evp aes-256-ctr` keys the cipher once, so this floor leaves out the per-packet AES key
 * schedule the scheme pays (tens of ns). `openssl speed` reports CPU (user) time unless `-elapsed` is given;
 * we keep its default, which is the better estimate of the physical limit on a shared machine.
 */

import { spawnSync } from 'node:child_process';

/** One `openssl speed` result. */
export interface SpeedResult {
  /** The algorithm as openssl names it (e.g. `sha256`, `AES-256-CTR`). */
  algorithm: string;
  /** Block size. */
  bytes: number;
  /** Seconds per operation on one block. */
  secondsPerOp: number;
}

/**
 * Parses the output (stdout and stderr together) of `openssl speed -mr -evp ALG -bytes N -seconds S`.
 * OpenSSL 3.0 prints on stderr `+DT:alg:seconds:bytes` and `+R:count:alg:seconds`, and on stdout `+H:bytes`
 * and `+F:index:alg:bytesPerSecond`. Preferred is `+R` (raw count and time); `+F` and the human-readable
 * "Doing ... N alg's in Ts" line are fallbacks. Throws when none is present.
 */
export function parseSpeedOutput(text: string, bytes: number): SpeedResult {
  const r = /^\+R:(\d+):([^:\r\n]+):(\d+(?:\.\d+)?)\s*$/m.exec(text);
  if (r) {
    const count = Number(r[1]);
    const seconds = Number(r[3]);
    if (count > 0 && seconds > 0) return { algorithm: r[2]!, bytes, secondsPerOp: seconds / count };
  }
  const f = /^\+F:\d+:([^:\r\n]+):(\d+(?:\.\d+)?)/m.exec(text);
  if (f) {
    const bytesPerSecond = Number(f[2]);
    if (bytesPerSecond > 0) return { algorithm: f[1]!, bytes, secondsPerOp: bytes / bytesPerSecond };
  }
  const doing = /^Doing (\S+) for \S+ on (\d+) size blocks: (\d+) \S+ in (\d+(?:\.\d+)?)s/m.exec(text);
  if (doing) {
    const count = Number(doing[3]);
    const seconds = Number(doing[4]);
    if (count > 0 && seconds > 0) return { algorithm: doing[1]!, bytes: Number(doing[2]), secondsPerOp: seconds / count };
  }
  throw new Error(`cannot parse openssl speed output: ${JSON.stringify(text.slice(0, 200))}`);
}

/** Packets per second of the native floor from the three per-operation times (seconds). */
export function nativePacketsPerSec(shaPrefixed: number, sha52: number, aes: number): number {
  return 1 / (shaPrefixed + 2 * sha52 + aes);
}

/** `openssl version`'s first line, or `undefined` when there is no openssl on PATH (or it fails). */
export function opensslVersion(): string | undefined {
  const res = spawnSync('openssl', ['version'], { encoding: 'utf8' });
  if (res.error || res.status !== 0) return undefined;
  return res.stdout.trim().split('\n')[0] || undefined;
}

/** Runs `openssl speed -mr -evp ALG -bytes N -seconds S` once. */
export function runSpeed(algorithm: 'sha256' | 'aes-256-ctr', bytes: number, seconds = 1): SpeedResult {
  const args = ['speed', '-mr', '-evp', algorithm, '-bytes', String(bytes), '-seconds', String(seconds)];
  const res = spawnSync('openssl', args, { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (res.error) throw res.error;
  if (res.status !== 0) throw new Error(`openssl ${args.join(' ')} exited with ${String(res.status)}: ${res.stderr.trim()}`);
  return parseSpeedOutput(`${res.stdout}\n${res.stderr}`, bytes);
}

/** The native row for each size: packets/s, and the `openssl version` it came from. */
export interface NativeResult {
  version: string;
  packetsPerSec: Map<number, number>;
}

/**
 * Measures the native floor for `sizes` (2 · sizes + 1 runs of `openssl speed`, one second each), or returns
 * `undefined` when openssl is absent. Runs before any JavaScript measurement so the two never share the CPU.
 */
export function measureNative(sizes: readonly number[], progress: (line: string) => void): NativeResult | undefined {
  const version = opensslVersion();
  if (version === undefined) {
    progress('openssl not found on PATH: no native row');
    return undefined;
  }
  const speed = (algorithm: 'sha256' | 'aes-256-ctr', bytes: number): number => {
    const result = runSpeed(algorithm, bytes);
    progress(`openssl speed -evp ${algorithm} -bytes ${bytes}: ${(result.secondsPerOp * 1e9).toFixed(1)} ns/op`);
    return result.secondsPerOp;
  };
  progress(`native floor from ${version}`);
  const sha52 = speed('sha256', 52);
  const packetsPerSec = new Map<number, number>();
  for (const size of sizes) {
    packetsPerSec.set(size, nativePacketsPerSec(speed('sha256', 32 + size), sha52, speed('aes-256-ctr', size)));
  }
  return { version, packetsPerSec };
}
