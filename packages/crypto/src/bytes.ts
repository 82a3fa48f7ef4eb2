/** Byte helpers shared by the crypto core. Everything is `Uint8Array`; nothing here allocates on a hot path unless it returns new bytes. */

/** Concatenates byte strings into a new array. */
export function concatBytes(...parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Compares two byte strings in time that depends only on their lengths. */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/** Lower-case hex of a byte string. */
export function bytesToHex(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i++) out += bytes[i]!.toString(16).padStart(2, '0');
  return out;
}

/** Parses hex (whitespace ignored, even length required). */
export function hexToBytes(hex: string): Uint8Array {
  const clean = hex.replace(/\s+/g, '');
  if (clean.length % 2 !== 0 || /[^0-9a-fA-F]/.test(clean)) {
    throw new TypeError('hexToBytes: expected an even number of hex digits');
  }
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Interprets bytes as an unsigned big-endian integer. */
export function bytesToBigInt(bytes: Uint8Array): bigint {
  return bytes.length === 0 ? 0n : BigInt('0x' + bytesToHex(bytes));
}

/** Writes a non-negative integer as exactly `length` big-endian bytes (left-padded with zeros). */
export function bigIntToBytes(value: bigint, length: number): Uint8Array {
  if (value < 0n) throw new RangeError('bigIntToBytes: negative value');
  const hex = value.toString(16);
  if (hex.length > length * 2) throw new RangeError(`bigIntToBytes: value does not fit in ${length} bytes`);
  return hexToBytes(hex.padStart(length * 2, '0'));
}

/** Fills `bytes` with cryptographically secure random values (Web Crypto, present in Node 20+ and browsers). */
export function randomBytes(length: number): Uint8Array {
  const out = new Uint8Array(length);
  // getRandomValues is limited to 65536 bytes per call.
  for (let offset = 0; offset < length; offset += 65536) {
    globalThis.crypto.getRandomValues(out.subarray(offset, Math.min(length, offset + 65536)));
  }
  return out;
}

/** Overwrites secret bytes with zeros. */
export function wipe(...secrets: readonly (Uint8Array | undefined | null)[]): void {
  for (const secret of secrets) secret?.fill(0);
}

/** Throws a TypeError unless `value` is a Uint8Array of the given length (any length when omitted). */
export function assertBytes(value: unknown, name: string, length?: number): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) throw new TypeError(`${name}: expected Uint8Array`);
  if (length !== undefined && value.length !== length) {
    throw new RangeError(`${name}: expected ${length} bytes, got ${value.length}`);
  }
}

const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Standard base64 (RFC 4648 §4, with padding) of a byte string. */
export function bytesToBase64(bytes: Uint8Array): string {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000) as unknown as number[]);
  }
  return btoa(binary);
}

/** Parses strict standard base64 (padding required, no whitespace); `null` when the text is not base64. */
export function base64ToBytes(text: string): Uint8Array | null {
  if (typeof text !== 'string' || !BASE64_RE.test(text)) return null;
  const binary = atob(text);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  // Canonical only: non-zero padding bits ('AB==' for [0]) would give the same bytes a second spelling.
  return bytesToBase64(out) === text ? out : null;
}
