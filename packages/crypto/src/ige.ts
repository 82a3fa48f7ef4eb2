/**
 * AES-256 in infinite garble extension (IGE) mode, the cipher of MTProto's secret chats and encrypted files:
 *
 *   y_i = E(x_i ⊕ y_{i-1}) ⊕ x_{i-1}        x_i = D(y_i ⊕ x_{i-1}) ⊕ y_{i-1}
 *
 * with the 32-byte IV read as y_0 = iv[0..16] ‖ x_0 = iv[16..32] (OpenSSL's `AES_ige_encrypt` layout, which
 * TDLib and the Telegram apps use). Data must be a whole number of 16-byte blocks.
 *
 * Encryption is one AES-CBC pass: with z_i = y_i ⊕ x_{i-1} = E(x_i ⊕ z_{i-1} ⊕ x_{i-2}), z is exactly the
 * CBC encryption (IV y_0) of p_1 = x_1, p_2 = x_2 ⊕ x_0, p_i = x_i ⊕ x_{i-2}; then y_i = z_i ⊕ x_{i-1}. So the
 * platform's CBC (OpenSSL in Node, @noble elsewhere) does the block work in one call. Decryption is serial by
 * construction (each block's cipher input needs the previous plaintext), one block decryption at a time under a
 * key expanded once.
 */

import { cbc, ecb } from '@noble/ciphers/aes.js';
import type * as NodeCrypto from 'node:crypto';
import { nodeCryptoModule } from './backend/index.js';
import { assertBytes, wipe } from './bytes.js';

/** AES-256 key length. */
export const IGE_KEY_LENGTH = 32;
/** IGE IV length: y_0 ‖ x_0. */
export const IGE_IV_LENGTH = 32;
/** AES block length; IGE data must be a multiple of it. */
export const AES_BLOCK_LENGTH = 16;

/** Decrypts single AES-256 blocks under one key. */
export interface AesBlockDecryptor {
  /** AES-256 decryption of one 16-byte block into `out` (16 bytes; may not alias `block`). */
  decryptBlock(block: Uint8Array, out: Uint8Array): void;
  /** Drops the key schedule (best effort: Node's is inside OpenSSL). */
  destroy(): void;
}

/** The two AES operations IGE is built from, once per platform. */
export interface AesBlockBackend {
  /** `'node'` or `'noble'`. */
  readonly name: string;
  /** AES-256-CBC encryption of `data` (a multiple of 16 bytes) from a 16-byte `iv`, without padding. */
  aes256CbcEncrypt(key: Uint8Array, iv: Uint8Array, data: Uint8Array): Uint8Array;
  /** A single-block AES-256 decryptor holding `key`'s schedule. */
  aes256BlockDecryptor(key: Uint8Array): AesBlockDecryptor;
}

/** The @noble block backend: runs anywhere. */
export const nobleBlockBackend: AesBlockBackend = {
  name: 'noble',
  aes256CbcEncrypt(key, iv, data) {
    return cbc(key, iv, { disablePadding: true }).encrypt(data);
  },
  aes256BlockDecryptor(key) {
    const copy = new Uint8Array(key);
    return {
      decryptBlock(block, out) {
        // A cipher object per block: @noble's objects are single-use by design, and it expands the key per call anyway.
        ecb(copy, { disablePadding: true }).decrypt(block, out);
      },
      destroy() {
        copy.fill(0);
      },
    };
  },
};

/** The Node block backend over a `node:crypto` module (OpenSSL, AES-NI). */
export function createNodeBlockBackend(crypto: typeof NodeCrypto): AesBlockBackend {
  const view = (buffer: Buffer): Uint8Array => new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.length);
  return {
    name: 'node',
    aes256CbcEncrypt(key, iv, data) {
      const cipher = crypto.createCipheriv('aes-256-cbc', key, iv).setAutoPadding(false);
      const head = cipher.update(data);
      cipher.final(); // no padding: nothing more comes out
      return view(head);
    },
    aes256BlockDecryptor(key) {
      const decipher = crypto.createDecipheriv('aes-256-ecb', key, null).setAutoPadding(false);
      return {
        decryptBlock(block, out) {
          // Without padding OpenSSL's ECB returns each whole block at once.
          out.set(decipher.update(block));
        },
        destroy() {
          // The schedule lives in OpenSSL's context, freed with the object.
        },
      };
    },
  };
}

/** Node's OpenSSL where present, @noble elsewhere (the same choice as `defaultBackend`). */
export const defaultBlockBackend: AesBlockBackend = (() => {
  const crypto = nodeCryptoModule();
  return crypto ? createNodeBlockBackend(crypto) : nobleBlockBackend;
})();

function checkIgeArguments(key: Uint8Array, iv: Uint8Array, data: Uint8Array): void {
  assertBytes(key, 'key', IGE_KEY_LENGTH);
  assertBytes(iv, 'iv', IGE_IV_LENGTH);
  assertBytes(data, 'data');
  if (data.length % AES_BLOCK_LENGTH !== 0) {
    throw new RangeError(`AES-IGE data must be a multiple of 16 bytes, got ${data.length}`);
  }
}

/**
 * An AES-256-IGE stream under one key: successive `encrypt` (or `decrypt`) calls continue the chain, as an
 * encrypted file's parts do (each part must be a multiple of 16 bytes). `iv` is copied; `destroy()` wipes state.
 */
export class AesIge {
  readonly #key: Uint8Array;
  /** y_{i-1} ‖ x_{i-1}: the running IV. */
  readonly #iv: Uint8Array;
  readonly #backend: AesBlockBackend;
  #decryptor: AesBlockDecryptor | undefined;

  /**
   * @param key 32-byte AES key
   * @param iv 32-byte IV (y_0 ‖ x_0)
   * @throws TypeError / RangeError for a wrong type or length
   */
  constructor(key: Uint8Array, iv: Uint8Array, backend: AesBlockBackend = defaultBlockBackend) {
    checkIgeArguments(key, iv, new Uint8Array(0));
    this.#key = new Uint8Array(key);
    this.#iv = new Uint8Array(iv);
    this.#backend = backend;
  }

  /** The running IV (a copy): what a continuation of this stream would start from. */
  get iv(): Uint8Array {
    return new Uint8Array(this.#iv);
  }

  /** Encrypts the next `data` of the stream (a multiple of 16 bytes) into a new array. */
  encrypt(data: Uint8Array): Uint8Array {
    checkIgeArguments(this.#key, this.#iv, data);
    const n = data.length;
    if (n === 0) return new Uint8Array(0);
    const y0 = this.#iv.subarray(0, 16);
    const x0 = this.#iv.subarray(16, 32);
    // p_i = x_i ⊕ x_{i-2} (x_{-1} taken as zero for the first block, x_0 for the second).
    const p = new Uint8Array(data);
    for (let i = 16; i < Math.min(32, n); i++) p[i]! ^= x0[i - 16]!;
    for (let i = 32; i < n; i++) p[i]! ^= data[i - 32]!;
    const z = this.#backend.aes256CbcEncrypt(this.#key, y0, p);
    p.fill(0);
    const out = z.byteOffset === 0 && z.length === z.buffer.byteLength ? z : new Uint8Array(z);
    for (let i = 0; i < 16; i++) out[i]! ^= x0[i]!;
    for (let i = 16; i < n; i++) out[i]! ^= data[i - 16]!;
    this.#iv.set(out.subarray(n - 16, n), 0);
    this.#iv.set(data.subarray(n - 16, n), 16);
    return out;
  }

  /** Decrypts the next `data` of the stream (a multiple of 16 bytes) into a new array. */
  decrypt(data: Uint8Array): Uint8Array {
    checkIgeArguments(this.#key, this.#iv, data);
    const n = data.length;
    const out = new Uint8Array(n);
    if (n === 0) return out;
    this.#decryptor ??= this.#backend.aes256BlockDecryptor(this.#key);
    const input = new Uint8Array(16);
    const block = new Uint8Array(16);
    // prevY = y_{i-1}, prevX = x_{i-1}: the IV for the first block, then the previous blocks.
    let prevY: Uint8Array = this.#iv.subarray(0, 16);
    let prevX: Uint8Array = this.#iv.subarray(16, 32);
    for (let off = 0; off < n; off += 16) {
      const y = data.subarray(off, off + 16);
      for (let i = 0; i < 16; i++) input[i] = y[i]! ^ prevX[i]!;
      this.#decryptor.decryptBlock(input, block);
      const x = out.subarray(off, off + 16);
      for (let i = 0; i < 16; i++) x[i] = block[i]! ^ prevY[i]!;
      prevY = y;
      prevX = x;
    }
    this.#iv.set(data.subarray(n - 16, n), 0);
    this.#iv.set(out.subarray(n - 16, n), 16);
    wipe(input, block);
    return out;
  }

  /** Wipes the key copy and the running IV. */
  destroy(): void {
    this.#decryptor?.destroy();
    this.#decryptor = undefined;
    this.#key.fill(0);
    this.#iv.fill(0);
  }
}

/**
 * AES-256-IGE encryption of `data` (a multiple of 16 bytes) under a 32-byte key and a 32-byte IV (y_0 ‖ x_0).
 *
 * @returns a new array of `data.length` bytes
 * @throws TypeError / RangeError for a wrong type or length
 * @example
 * const ciphertext = aes256IgeEncrypt(aesKey, aesIv, paddedPlaintext);
 */
export function aes256IgeEncrypt(key: Uint8Array, iv: Uint8Array, data: Uint8Array, backend?: AesBlockBackend): Uint8Array {
  const ige = new AesIge(key, iv, backend);
  try {
    return ige.encrypt(data);
  } finally {
    ige.destroy();
  }
}

/**
 * AES-256-IGE decryption of `data` (a multiple of 16 bytes); the inverse of `aes256IgeEncrypt`.
 *
 * @returns a new array of `data.length` bytes
 * @throws TypeError / RangeError for a wrong type or length
 */
export function aes256IgeDecrypt(key: Uint8Array, iv: Uint8Array, data: Uint8Array, backend?: AesBlockBackend): Uint8Array {
  const ige = new AesIge(key, iv, backend);
  try {
    return ige.decrypt(data);
  } finally {
    ige.destroy();
  }
}
