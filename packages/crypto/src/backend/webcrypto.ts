/**
 * The asynchronous Web Crypto primitives, for the one place they pay off: large media frames in browser workers.
 * With a key that changes every packet, a packet costs three awaited calls (digest, importKey, encrypt), ~25 µs of
 * round trips before any work — slower than @noble below ~450 bytes, 2–10× faster above 1 KB (docs/PERFORMANCE.md).
 * The two 52-byte KDF hashes stay on the synchronous backend.
 */

import { counterMinus } from './counter.js';

/** The primitives of the scheme that have an asynchronous, hardware-backed form. */
export interface AsyncCryptoBackend {
  readonly name: string;
  /** SHA-256 of `data`. */
  sha256(data: Uint8Array): Promise<Uint8Array>;
  /** As `CryptoBackend.aes256Ctr`: AES-256-CTR of `input[skip..]` at the same offset of a new array, first `skip` bytes zero. */
  aes256Ctr(key: Uint8Array, iv: Uint8Array, input: Uint8Array, skip: number): Promise<Uint8Array>;
}

type Subtle = Pick<SubtleCrypto, 'digest' | 'importKey' | 'encrypt'>;

/** The Web Crypto backend over `subtle` (default `globalThis.crypto.subtle`), or undefined where there is none. */
export function createWebCryptoBackend(subtle: Subtle | undefined = globalThis.crypto?.subtle): AsyncCryptoBackend | undefined {
  if (!subtle) return undefined;
  return {
    name: 'webcrypto',
    async sha256(data) {
      return new Uint8Array(await subtle.digest('SHA-256', data as Uint8Array<ArrayBuffer>));
    },
    async aes256Ctr(key, iv, input, skip) {
      if (skip % 16 !== 0 || skip < 0) throw new RangeError('aes256Ctr: skip must be a non-negative multiple of 16');
      if (input.length <= skip) return new Uint8Array(input.length);
      const cryptoKey = await subtle.importKey('raw', key as Uint8Array<ArrayBuffer>, 'AES-CTR', false, ['encrypt']);
      // Start the counter skip/16 blocks early so the result lands at the same offset with no copy (as the Node backend).
      const counter: Uint8Array<ArrayBuffer> = skip === 0 ? new Uint8Array(iv) : (counterMinus(iv, skip / 16, new Uint8Array(16)) as Uint8Array<ArrayBuffer>);
      const output = new Uint8Array(await subtle.encrypt({ name: 'AES-CTR', counter, length: 128 }, cryptoKey, input as Uint8Array<ArrayBuffer>));
      output.fill(0, 0, skip);
      counter.fill(0);
      return output;
    },
  };
}
