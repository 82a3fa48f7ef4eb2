/** Encrypted files: parts, padding, fingerprints, refusals. Known answers are in vectors.test.ts. */
import { expect, it } from 'vitest';
import fc from 'fast-check';
import { randomBytes } from '@mtcall/crypto';
import { FileEncryptor, MAX_FILE_PART_SIZE, decryptFile, encryptFile, fileKeyFingerprint, generateFileKey } from './files.js';
import { SecretChatError } from './errors.js';

it('round-trips files of any size through parts of every allowed size (property)', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 6000 }), fc.constantFrom(1024, 2048, 4096), (size, partSize) => {
      const fileKey = generateFileKey();
      const data = randomBytes(size);
      const parts = encryptFile(data, fileKey, partSize);
      expect(parts.length).toBe(Math.ceil(size / partSize));
      parts.slice(0, -1).forEach((p) => expect(p.length).toBe(partSize));
      if (parts.length > 0) expect(parts.at(-1)!.length).toBe(((size - (parts.length - 1) * partSize + 15) & ~15));
      expect(decryptFile(parts, fileKey, size, fileKeyFingerprint(fileKey))).toEqual(data);
    }),
    { numRuns: 60 },
  );
});

it('uses 512 KiB parts by default, one IGE chain across them (a streaming encryptor gives the same bytes)', () => {
  const fileKey = generateFileKey();
  const data = randomBytes(MAX_FILE_PART_SIZE + 100);
  const parts = encryptFile(data, fileKey);
  expect(parts.map((p) => p.length)).toEqual([MAX_FILE_PART_SIZE, 112]);
  const stream = new FileEncryptor(fileKey);
  expect(Buffer.from(stream.part(data.subarray(0, MAX_FILE_PART_SIZE), false)).equals(parts[0]!)).toBe(true);
  expect(Buffer.from(stream.part(data.subarray(MAX_FILE_PART_SIZE), true)).equals(parts[1]!)).toBe(true);
  expect(() => stream.part(new Uint8Array(16), true)).toThrow(SecretChatError);
  expect(() => new FileEncryptor(fileKey).part(new Uint8Array(15), false)).toThrow(/multiple of 16/);
});

it('refuses part sizes Telegram does not accept', () => {
  for (const bad of [0, 16, 1000, 3072, 1024 * 1024]) expect(() => encryptFile(new Uint8Array(10), generateFileKey(), bad)).toThrow(/part size/);
});

it('decryptFile returns null for a wrong fingerprint, a bad part, or a size that does not fit', () => {
  const fileKey = generateFileKey();
  const parts = encryptFile(randomBytes(100), fileKey, 1024);
  expect(decryptFile(parts, fileKey, 100, fileKeyFingerprint(fileKey) ^ 1)).toBeNull();
  expect(decryptFile([parts[0]!.subarray(1)], fileKey, 100)).toBeNull();
  expect(decryptFile(parts, fileKey, 113)).toBeNull();
  expect(decryptFile(parts, fileKey, 96)).toBeNull(); // 16 bytes of "padding" cannot be
  expect(decryptFile(parts, fileKey, -1)).toBeNull();
  expect(decryptFile(parts, { key: fileKey.key, iv: generateFileKey().iv }, 100)).not.toEqual(null); // no authentication: a wrong IV decrypts to garbage
});

it('file keys are 32 + 32 random bytes, and their fingerprint is a 32-bit int', () => {
  const a = generateFileKey();
  expect([a.key.length, a.iv.length]).toEqual([32, 32]);
  expect(a.key).not.toEqual(generateFileKey().key);
  const fp = fileKeyFingerprint(a);
  expect(Number.isInteger(fp) && fp >= -(2 ** 31) && fp < 2 ** 31).toBe(true);
});
