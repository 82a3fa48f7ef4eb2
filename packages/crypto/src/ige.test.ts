import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ecb } from '@noble/ciphers/aes.js';
import { AesIge, aes256IgeDecrypt, aes256IgeEncrypt, createNodeBlockBackend, nobleBlockBackend, type AesBlockBackend } from './ige.js';
import { nodeCryptoModule } from './backend/index.js';
import { deriveIgeKeyIv } from './secret-kdf.js';
import { md5 } from './md5.js';
import { bytesToHex, concatBytes, hexToBytes } from './bytes.js';
import { sha256 } from './hash.js';

/** IGE written plainly from its definition, one ECB block at a time: the reference the CBC-based path must match. */
function referenceIge(key: Uint8Array, iv: Uint8Array, data: Uint8Array, decrypt: boolean): Uint8Array {
  const out = new Uint8Array(data.length);
  let prevIn = decrypt ? iv.subarray(16) : iv.subarray(0, 16); // encrypt: y_{i-1}; decrypt: x_{i-1}
  let prevOut = decrypt ? iv.subarray(0, 16) : iv.subarray(16); // encrypt: x_{i-1}; decrypt: y_{i-1}
  for (let off = 0; off < data.length; off += 16) {
    const x = data.subarray(off, off + 16);
    const t = x.map((b, i) => b ^ prevIn[i]!);
    const block = ecb(key, { disablePadding: true }); // one object per block: noble refuses a second encrypt()
    const e = decrypt ? block.decrypt(t) : block.encrypt(t);
    const y = e.map((b, i) => b ^ prevOut[i]!);
    out.set(y, off);
    if (decrypt) {
      prevIn = y;
      prevOut = x;
    } else {
      prevIn = y;
      prevOut = x;
    }
  }
  return out;
}

const node = nodeCryptoModule();
const backends: AesBlockBackend[] = node ? [createNodeBlockBackend(node), nobleBlockBackend] : [nobleBlockBackend];

describe.each(backends.map((b) => [b.name, b] as const))('AES-256-IGE on %s', (_name, backend) => {
  it('matches the plain definition and inverts, for every length up to 40 blocks', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.integer({ min: 0, max: 40 }), fc.integer(), (key, iv, blocks, seed) => {
        const data = new Uint8Array(blocks * 16).map((_, i) => (i * 31 + seed) & 0xff);
        const encrypted = aes256IgeEncrypt(key, iv, data, backend);
        expect(bytesToHex(encrypted)).toBe(bytesToHex(referenceIge(key, iv, data, false)));
        expect(bytesToHex(aes256IgeDecrypt(key, iv, encrypted, backend))).toBe(bytesToHex(data));
      }),
      { numRuns: 150 },
    );
  });

  it('chains across calls exactly like one call (file parts)', () => {
    const key = sha256(new Uint8Array([1]));
    const iv = concatBytes(sha256(new Uint8Array([2])));
    const data = new Uint8Array(16 * 9).map((_, i) => i);
    const whole = aes256IgeEncrypt(key, iv, data, backend);
    const stream = new AesIge(key, iv, backend);
    const parts = concatBytes(stream.encrypt(data.subarray(0, 48)), stream.encrypt(data.subarray(48, 48)), stream.encrypt(data.subarray(48)));
    expect(bytesToHex(parts)).toBe(bytesToHex(whole));
    const back = new AesIge(key, iv, backend);
    expect(bytesToHex(concatBytes(back.decrypt(whole.subarray(0, 16)), back.decrypt(whole.subarray(16))))).toBe(bytesToHex(data));
    stream.destroy();
    back.destroy();
  });

  it('does not modify its inputs and accepts views at odd offsets', () => {
    const key = sha256(new Uint8Array([3]));
    const iv = concatBytes(key, key).subarray(0, 32);
    const big = new Uint8Array(16 * 4 + 3).map((_, i) => i);
    const view = big.subarray(3);
    const copy = view.slice();
    const c = aes256IgeEncrypt(key, iv, view, backend);
    expect(view).toEqual(copy);
    expect(aes256IgeDecrypt(key, iv, c, backend)).toEqual(copy);
  });
});

it('rejects wrong key, IV or data lengths with RangeError', () => {
  const k = new Uint8Array(32);
  expect(() => aes256IgeEncrypt(new Uint8Array(16), new Uint8Array(32), new Uint8Array(16))).toThrow(RangeError);
  expect(() => aes256IgeEncrypt(k, new Uint8Array(16), new Uint8Array(16))).toThrow(RangeError);
  expect(() => aes256IgeEncrypt(k, new Uint8Array(32), new Uint8Array(15))).toThrow(/multiple of 16/);
  expect(() => aes256IgeDecrypt(k, new Uint8Array(32), new Uint8Array(17))).toThrow(/multiple of 16/);
});

it('derives the secret-chat aes_key/aes_iv as the seed composes them (32-byte IV, unlike the calls)', () => {
  const key = new Uint8Array(256).map((_, i) => i);
  const msgKey = new Uint8Array(16).fill(7);
  for (const x of [0, 8] as const) {
    const a = sha256(msgKey, key.subarray(x, x + 36));
    const b = sha256(key.subarray(40 + x, 76 + x), msgKey);
    const { aesKey, aesIv } = deriveIgeKeyIv(key, msgKey, x);
    expect(bytesToHex(aesKey)).toBe(bytesToHex(concatBytes(a.subarray(0, 8), b.subarray(8, 24), a.subarray(24, 32))));
    expect(bytesToHex(aesIv)).toBe(bytesToHex(concatBytes(b.subarray(0, 8), a.subarray(8, 24), b.subarray(24, 32))));
  }
  expect(() => deriveIgeKeyIv(key, msgKey, 128 as 0)).toThrow(RangeError);
});

it('md5 gives RFC 1321 test-suite digests', () => {
  expect(bytesToHex(md5(new Uint8Array(0)))).toBe('d41d8cd98f00b204e9800998ecf8427e');
  expect(bytesToHex(md5(new TextEncoder().encode('a'), new TextEncoder().encode('bc')))).toBe('900150983cd24fb0d6963f7d28e17f72');
  expect(hexToBytes('00').length).toBe(1);
});
