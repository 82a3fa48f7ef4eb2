/**
 * TL's binary serialization (core.telegram.org/mtproto/serialize) for the end-to-end layer: little-endian 32-bit
 * `int` and 64-bit `long`; `bytes` and `string` as a length byte (< 254) or 0xfe and a 3-byte little-endian length,
 * the data, then zero padding to a multiple of 4; boxed `Vector` as 0x1cb5c415, a count and the items.
 */

import { concatBytes } from '@mtcall/crypto';
import { TlParseError } from '../errors.js';

/** Boxed vector constructor: CRC32 of `vector t:Type # [ t ] = Vector t`. */
export const VECTOR_ID = 0x1cb5c415;
/** The largest bytes/string TL can carry (3-byte length). */
export const MAX_TL_BYTES = 0xffffff;

const INT_MIN = -0x80000000;
const INT_MAX = 0x7fffffff;
const LONG_MIN = -(1n << 63n);
const LONG_MAX = (1n << 63n) - 1n;

/** Appends TL values to a growing buffer. Throws RangeError/TypeError on values TL cannot hold (programming errors). */
export class TlWriter {
  #parts: Uint8Array[] = [];
  #scratch = new DataView(new ArrayBuffer(8));

  /** A 32-bit signed `int` (or a constructor id / flags word given as uint32). */
  int(value: number): this {
    if (!Number.isInteger(value) || value < INT_MIN || value > 0xffffffff) throw new RangeError(`TL int out of range: ${value}`);
    const out = new Uint8Array(4);
    new DataView(out.buffer).setUint32(0, value >>> 0, true);
    this.#parts.push(out);
    return this;
  }

  /** A 32-bit signed `int` only (rejects values above 2^31 - 1). */
  signedInt(value: number): this {
    if (!Number.isInteger(value) || value < INT_MIN || value > INT_MAX) throw new RangeError(`TL int out of range: ${value}`);
    return this.int(value);
  }

  /** A 64-bit signed `long`. */
  long(value: bigint): this {
    if (typeof value !== 'bigint' || value < LONG_MIN || value > LONG_MAX) throw new RangeError(`TL long out of range: ${String(value)}`);
    this.#scratch.setBigInt64(0, value, true);
    this.#parts.push(new Uint8Array(this.#scratch.buffer.slice(0)));
    return this;
  }

  /** `bytes`: length prefix, data, zero padding to a multiple of 4. */
  bytes(data: Uint8Array): this {
    if (!(data instanceof Uint8Array)) throw new TypeError('TL bytes: expected Uint8Array');
    const n = data.length;
    if (n > MAX_TL_BYTES) throw new RangeError(`TL bytes too long: ${n}`);
    const head = n < 254 ? 1 : 4;
    const out = new Uint8Array((head + n + 3) & ~3);
    if (head === 1) out[0] = n;
    else out.set([0xfe, n & 0xff, (n >>> 8) & 0xff, n >>> 16], 0);
    out.set(data, head);
    this.#parts.push(out);
    return this;
  }

  /** `string`: UTF-8, then as `bytes`. */
  string(text: string): this {
    if (typeof text !== 'string') throw new TypeError('TL string: expected a string');
    return this.bytes(new TextEncoder().encode(text));
  }

  /** Raw bytes already serialized. */
  raw(data: Uint8Array): this {
    this.#parts.push(data);
    return this;
  }

  /** The bytes written so far. */
  finish(): Uint8Array {
    return concatBytes(...this.#parts);
  }
}

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Reads TL values from a byte string. Methods throw `TlParseError` on bad bytes; the package's public parsers catch
 * it and return a `TlError` value, so nothing escapes to callers.
 */
export class TlReader {
  readonly #data: Uint8Array;
  readonly #view: DataView;
  #offset = 0;

  constructor(data: Uint8Array) {
    this.#data = data;
    this.#view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  }

  /** Bytes consumed so far. */
  get offset(): number {
    return this.#offset;
  }

  /** Bytes left. */
  get remaining(): number {
    return this.#data.length - this.#offset;
  }

  #need(n: number, what: string): void {
    if (this.remaining < n) throw new TlParseError('truncated', `TL: ${what} needs ${n} bytes, ${this.remaining} left`, this.#offset);
  }

  /** A signed 32-bit `int`. */
  int(what = 'int'): number {
    this.#need(4, what);
    const v = this.#view.getInt32(this.#offset, true);
    this.#offset += 4;
    return v;
  }

  /** An unsigned 32-bit word (constructor ids, flags). */
  uint(what = 'uint'): number {
    this.#need(4, what);
    const v = this.#view.getUint32(this.#offset, true);
    this.#offset += 4;
    return v;
  }

  /** A signed 64-bit `long`. */
  long(what = 'long'): bigint {
    this.#need(8, what);
    const v = this.#view.getBigInt64(this.#offset, true);
    this.#offset += 8;
    return v;
  }

  /** `bytes` (a copy), padding checked to be present. */
  bytes(what = 'bytes'): Uint8Array {
    const start = this.#offset;
    this.#need(1, what);
    let n = this.#data[this.#offset]!;
    let head = 1;
    if (n === 255) throw new TlParseError('bad-length', `TL: ${what} has length byte 0xff`, start);
    if (n === 254) {
      this.#need(4, what);
      n = this.#data[start + 1]! | (this.#data[start + 2]! << 8) | (this.#data[start + 3]! << 16);
      head = 4;
      if (n < 254) throw new TlParseError('bad-length', `TL: ${what} uses the long length form for ${n} bytes`, start);
    }
    const total = (head + n + 3) & ~3;
    this.#need(total, what);
    const out = this.#data.slice(start + head, start + head + n);
    this.#offset = start + total;
    return out;
  }

  /** `string`: `bytes` decoded as strict UTF-8. */
  string(what = 'string'): string {
    const start = this.#offset;
    const bytes = this.bytes(what);
    try {
      return UTF8.decode(bytes);
    } catch {
      throw new TlParseError('bad-utf8', `TL: ${what} is not valid UTF-8`, start);
    }
  }

  /** A boxed vector's count, checked against the bytes left (each item takes at least `minItemBytes`). */
  vectorCount(minItemBytes: number, what = 'vector'): number {
    const start = this.#offset;
    const id = this.uint(what);
    if (id !== VECTOR_ID) throw new TlParseError('unknown-constructor', `TL: ${what} expected a Vector, got #${id.toString(16)}`, start, id);
    const count = this.int(what);
    if (count < 0 || count * minItemBytes > this.remaining) {
      throw new TlParseError('bad-length', `TL: ${what} count ${count} does not fit in ${this.remaining} bytes`, start);
    }
    return count;
  }

  /** Marks every remaining byte consumed (when another parser read them). */
  skipRest(): void {
    this.#offset = this.#data.length;
  }

  /** Throws unless every byte was consumed. */
  end(): void {
    if (this.remaining !== 0) throw new TlParseError('trailing-bytes', `TL: ${this.remaining} bytes after the object`, this.#offset);
  }
}
