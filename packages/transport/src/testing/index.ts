/**
 * TEST ONLY (`@mtcall/transport/testing`): diagnostics that must never run in a product — the plaintext samples
 * the relay capture test searches the wire for, the per-frame "ciphertext differs from plaintext" check, a first
 * seq near 2^30, a deliberately wrong media key. They live in the test worker entry (`./worker.ts`), which wraps
 * the product worker; the product worker entry (`@mtcall/transport/worker`) imports none of this.
 *
 * The page posts a `TestHooksMessage` to the test worker before `SecureCall` posts the key.
 */

import { FrameCryptor } from '../frame-cryptor.js';
import type { WorkerHooks } from '../worker-core.js';
import type { TransportStats } from '../worker-protocol.js';

/** What the test worker should do; posted by the test page before the key. */
export interface TestHooksMessage {
  type: 'test-hooks';
  /** Report hex of 24 plaintext bytes from the middle of up to 16 sent video frames (`plaintextSamples`). */
  plaintextSamples?: boolean;
  /** The first seq to seal with (e.g. 2^30 − 40, to make the call hit the seq limit). */
  firstSeq?: number;
  /** Seal and open with a key that differs in one byte (the peer then opens nothing). */
  wrongKey?: boolean;
  /** The frame size from which the cryptor uses Web Crypto (perf measurements of the switch point). */
  asyncThreshold?: number;
}

/** The stats of the test worker: the product's and the diagnostics. */
export interface TestTransportStats extends TransportStats {
  /** Sealed frames whose wire bytes do not contain the plaintext's last (up to) 64 bytes: evidence encryption happened. */
  ciphertextDiffers: number;
  /** Hex of 24 plaintext bytes from the middle of up to 16 sent video frames (with `plaintextSamples`). */
  plaintextSamples?: string[] | undefined;
}

/** True when the wire frame does not carry the plaintext frame's tail bytes in the clear (checks up to 64 bytes). */
export function differsFromPlaintext(plain: Uint8Array, wire: Uint8Array): boolean {
  if (plain.length === 0) return wire.length > 0;
  const n = Math.min(64, plain.length);
  const tail = plain.subarray(plain.length - n);
  outer: for (let i = 0; i + n <= wire.length; i++) {
    for (let j = 0; j < n; j++) if (wire[i + j] !== tail[j]) continue outer;
    return false;
  }
  return true;
}

/** The hooks of the test worker, reading `settings` (updated by `test-hooks` messages) when the key arrives. */
export function testWorkerHooks(settings: TestHooksMessage): WorkerHooks {
  let ciphertextDiffers = 0;
  let samples: string[] | undefined;
  return {
    createCryptor(key, outgoing) {
      if (settings.plaintextSamples) samples = [];
      const used = settings.wrongKey ? key.map((b, i) => (i === 100 ? b ^ 1 : b)) : key;
      const cryptor = new FrameCryptor(used, outgoing ? 'caller' : 'callee', {
        ...(settings.firstSeq !== undefined ? { firstSeq: settings.firstSeq } : {}),
        ...(settings.asyncThreshold !== undefined ? { asyncThreshold: settings.asyncThreshold } : {}),
      });
      if (used !== key) used.fill(0);
      return cryptor;
    },
    sealed(plain, wire, options) {
      if (differsFromPlaintext(plain, wire)) ciphertextDiffers++;
      if (samples && options.kind === 'video' && plain.length >= 256 && samples.length < 16) {
        const middle = plain.length >> 1;
        samples.push(Array.from(plain.subarray(middle, middle + 24), (b) => b.toString(16).padStart(2, '0')).join(''));
      }
    },
    stats: () => ({ ciphertextDiffers, ...(samples ? { plaintextSamples: [...samples] } : {}) }),
  };
}
