import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createCipheriv, createHash, randomBytes as nodeRandomBytes } from 'node:crypto';
import { availableBackends, nobleBackend, getNodeBackend } from './backend/index.js';
import { createWebCryptoBackend } from './backend/webcrypto.js';
import { ChannelOffset, type ChannelOffset as X } from './channel.js';
import { computeMsgKey, decryptPacket, deriveAesKeyIv, encryptPacket, PacketCipher } from './packet.js';
import { bytesToHex } from './bytes.js';
import { hex, vectors } from './test-support/vectors.js';

const OFFSETS: X[] = [0, 8, 128, 136];
const key = hex(vectors.key);
const backends = availableBackends();

/** A second, hand-assembled reading of the spec on Node's OpenSSL, independent of src/packet.ts. */
function referenceEncrypt(k: Uint8Array, x: number, body: Uint8Array): Uint8Array {
  const msgKey = createHash('sha256').update(k.subarray(88 + x, 120 + x)).update(body).digest().subarray(8, 24);
  const a = createHash('sha256').update(msgKey).update(k.subarray(x, x + 36)).digest();
  const b = createHash('sha256').update(k.subarray(40 + x, 76 + x)).update(msgKey).digest();
  const aesKey = Buffer.concat([a.subarray(0, 8), b.subarray(8, 24), a.subarray(24, 32)]);
  const aesIv = Buffer.concat([b.subarray(0, 4), a.subarray(8, 16), b.subarray(24, 28)]);
  const c = createCipheriv('aes-256-ctr', aesKey, aesIv);
  return Buffer.concat([msgKey, c.update(body), c.final()]);
}

it('has both backends in Node', () => {
  expect(backends.map((b) => b.name)).toEqual(['node', 'noble']);
});

describe.each(backends.map((b) => [b.name, b] as const))('backend %s', (_name, backend) => {
  it('matches the independent vectors (Python hashlib + openssl enc)', () => {
    expect(vectors.packets.length).toBe(28);
    for (const v of vectors.packets) {
      const x = v.x as X;
      const body = hex(v.body);
      expect(bytesToHex(computeMsgKey(key, x, body, backend))).toBe(v.msgKey);
      const { aesKey, aesIv } = deriveAesKeyIv(key, hex(v.msgKey), x, backend);
      expect(bytesToHex(aesKey)).toBe(v.aesKey);
      expect(bytesToHex(aesIv)).toBe(v.aesIv);
      expect(aesKey.length).toBe(32);
      expect(aesIv.length).toBe(16);
      expect(bytesToHex(encryptPacket(key, x, body, backend))).toBe(v.packet);
      expect(bytesToHex(decryptPacket(key, x, hex(v.packet), backend)!)).toBe(v.body);
    }
  });

  it('matches the hand-assembled OpenSSL reference on random keys and bodies 0..65536 bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 256, maxLength: 256 }), fc.constantFrom(...OFFSETS), fc.integer({ min: 0, max: 65536 }), (k, x, n) => {
        const body = nodeRandomBytes(n);
        const packet = encryptPacket(k, x, body, backend);
        expect(Buffer.from(packet).equals(referenceEncrypt(k, x, body))).toBe(true);
        const opened = decryptPacket(k, x, packet, backend);
        expect(opened && Buffer.from(opened).equals(body)).toBe(true);
      }),
      { numRuns: 60, seed: 20261125 },
    );
  });

  it('round-trips for all four x and never opens under another x', () => {
    for (const x of OFFSETS) {
      const body = nodeRandomBytes(200);
      const packet = encryptPacket(key, x, body, backend);
      expect(decryptPacket(key, x, packet, backend)).toEqual(new Uint8Array(body));
      for (const other of OFFSETS.filter((o) => o !== x)) {
        expect(decryptPacket(key, other, packet, backend)).toBeNull();
      }
    }
  });

  it('rejects every single-bit flip of a packet', () => {
    const packet = encryptPacket(key, ChannelOffset.OutgoingTransport, nodeRandomBytes(48), backend);
    for (let bit = 0; bit < packet.length * 8; bit++) {
      const tampered = packet.slice();
      tampered[bit >> 3]! ^= 1 << (bit & 7);
      expect(decryptPacket(key, 0, tampered, backend)).toBeNull();
    }
  });

  it('rejects truncated and extended packets and a packet under another key', () => {
    const packet = encryptPacket(key, 8, nodeRandomBytes(100), backend);
    for (let n = 0; n < packet.length; n++) expect(decryptPacket(key, 8, packet.subarray(0, n), backend)).toBeNull();
    for (const extra of [new Uint8Array([0]), nodeRandomBytes(1), nodeRandomBytes(16)]) {
      const extended = new Uint8Array([...packet, ...extra]);
      expect(decryptPacket(key, 8, extended, backend)).toBeNull();
    }
    const otherKey = key.slice();
    otherKey[255]! ^= 1; // a byte outside every slice the x = 8 KDF reads would not matter; byte 255 is not read by x=8
    expect(decryptPacket(otherKey, 8, packet, backend)).not.toBeNull();
    otherKey[255]! ^= 1;
    otherKey[8 + 88]! ^= 1; // inside substr(key, 88+x, 32)
    expect(decryptPacket(otherKey, 8, packet, backend)).toBeNull();
  });

  it('never throws on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.constantFrom(...OFFSETS), (bytes, x) => {
        expect(decryptPacket(key, x, bytes, backend)).toBeNull();
      }),
      { numRuns: 2000, seed: 7 },
    );
    expect(decryptPacket(key, 0, undefined as unknown as Uint8Array, backend)).toBeNull();
  });
});

it('both backends produce identical packets', () => {
  const node = getNodeBackend()!;
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 256, maxLength: 256 }), fc.constantFrom(...OFFSETS), fc.uint8Array({ maxLength: 5000 }), (k, x, body) => {
      expect(bytesToHex(encryptPacket(k, x, body, node))).toBe(bytesToHex(encryptPacket(k, x, body, nobleBackend)));
    }),
    { numRuns: 200, seed: 3 },
  );
});

it('rejects a wrong key length, a wrong x and a wrong msg_key length with clear errors', () => {
  expect(() => encryptPacket(new Uint8Array(255), 0, new Uint8Array(1))).toThrow(/key: expected 256 bytes/);
  expect(() => encryptPacket(key, 4 as X, new Uint8Array(1))).toThrow(/x must be one of 0, 8, 128, 136/);
  expect(() => deriveAesKeyIv(key, new Uint8Array(15), 0)).toThrow(/msgKey: expected 16 bytes/);
});

it('PacketCipher.destroy wipes its key copies and refuses further use', () => {
  const cipher = new PacketCipher(key, 0);
  const packet = cipher.encrypt(new Uint8Array([1, 2, 3]));
  expect(cipher.decrypt(packet)).toEqual(new Uint8Array([1, 2, 3]));
  cipher.destroy();
  expect(() => cipher.encrypt(new Uint8Array([1, 2, 3]))).toThrow(/destroyed/);
  expect(cipher.decrypt(packet)).toBeNull();
  // A packet sealed under an all-zero key (what wiped slices would be) does not open either.
  expect(cipher.decrypt(encryptPacket(new Uint8Array(256), 0, new Uint8Array([1, 2, 3])))).toBeNull();
});

describe('AES-256-CTR counter semantics on every backend (forced IVs: carries through zero bytes, 2^128 wrap)', () => {
  const ivs = [
    '00000000000000000000000000000000',
    '0102030405060708090a0b0c0d0e0f00',
    '01020304050607080900000000000000',
    '0102030405060708ffffffff00000000',
    '01020304050607080000000000000000',
    'ffffffffffffffffffffffffffffffff',
    'fffffffffffffffffffffffffffffffe',
    '0102030405060708fffffffffffffffe',
    '000000000000000000000000ffffffff',
  ];
  const aesKey = nodeRandomBytes(32);
  it.each(availableBackends().map((b) => [b.name, b] as const))('%s matches OpenSSL started at the IV, for skip 0/16/32/48', (_n, backend) => {
    for (const ivHex of ivs) {
      const iv = Buffer.from(ivHex, 'hex');
      const ivCopy = Buffer.from(iv);
      for (const length of [1, 15, 16, 17, 100, 1000]) {
        const data = nodeRandomBytes(length);
        const expected = createCipheriv('aes-256-ctr', aesKey, iv).update(data);
        for (const skip of [0, 16, 32, 48]) {
          const input = new Uint8Array(skip + length);
          input.set(data, skip);
          const out = backend.aes256Ctr(aesKey, iv, input, skip);
          expect(out.length).toBe(skip + length);
          expect(out.subarray(0, skip).every((b) => b === 0)).toBe(true);
          expect(bytesToHex(out.subarray(skip))).toBe(expected.toString('hex'));
        }
      }
      expect(iv.equals(ivCopy)).toBe(true); // the caller's IV is not modified
    }
    expect(() => backend.aes256Ctr(aesKey, Buffer.from(ivs[0]!, 'hex'), new Uint8Array(40), 8)).toThrow(RangeError);
  });
});

it('the Web Crypto AES-CTR matches OpenSSL at forced IVs and skips (async backend)', async () => {
  const webcrypto = createWebCryptoBackend()!;
  const aesKey = nodeRandomBytes(32);
  for (const ivHex of ['00000000000000000000000000000000', 'ffffffffffffffffffffffffffffffff', '0102030405060708ffffffff00000000', '0102030405060708090a0b0c0d0e0f00']) {
    const iv = Buffer.from(ivHex, 'hex');
    for (const length of [1, 17, 1000]) {
      const data = nodeRandomBytes(length);
      const expected = createCipheriv('aes-256-ctr', aesKey, iv).update(data).toString('hex');
      for (const skip of [0, 16, 32]) {
        const input = new Uint8Array(skip + length);
        input.set(data, skip);
        const out = await webcrypto.aes256Ctr(aesKey, iv, input, skip);
        expect(bytesToHex(out.subarray(skip))).toBe(expected);
        expect(out.subarray(0, skip).every((b) => b === 0)).toBe(true);
      }
    }
  }
  expect(bytesToHex(await webcrypto.sha256(new Uint8Array([1, 2, 3])))).toBe(createHash('sha256').update(new Uint8Array([1, 2, 3])).digest('hex'));
});

it('Node modPow falls back to BigInt where OpenSSL refuses (small moduli) and agrees with noble', () => {
  const node = getNodeBackend()!;
  for (const [b, e, m] of [[3n, 1000003n, 1000033n], [5n, (1n << 100n) + 7n, (1n << 127n) - 1n], [2n, 10n, 1n << 64n]] as const) {
    expect(node.modPow(b, e, m)).toBe(nobleBackend.modPow(b, e, m));
  }
});

it('never modifies the caller\'s key, also when it is a Node Buffer (Buffer#slice is a view)', () => {
  const bufferKey = nodeRandomBytes(256);
  const before = Buffer.from(bufferKey);
  for (const x of OFFSETS) {
    const packet = encryptPacket(bufferKey, x, new Uint8Array([1, 2, 3]));
    expect(decryptPacket(bufferKey, x, packet)).toEqual(new Uint8Array([1, 2, 3]));
    computeMsgKey(bufferKey, x, new Uint8Array(0));
    deriveAesKeyIv(bufferKey, new Uint8Array(16), x);
    new PacketCipher(bufferKey, x).destroy();
  }
  expect(bufferKey.equals(before)).toBe(true);
});
