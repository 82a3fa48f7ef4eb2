/** Known answers from test-vectors/generate.py (Python hashlib + zlib.crc32 + openssl's AES block, IGE composed by hand). */
import { describe, expect, it } from 'vitest';
import { aes256IgeDecrypt, aes256IgeEncrypt, bytesToHex, computeMsgKey, deriveIgeKeyIv, keyFingerprint, nobleBlockBackend } from '@mtcall/crypto';
import { hex, revive, vectors } from './test-support/vectors.js';
import { decryptSecretMessage, encryptSecretMessage, keyFingerprintBytes } from './message.js';
import { CONSTRUCTOR_IDS, type AnyDecryptedMessage, type DecryptedMessageLayer } from './tl/schema.js';
import { parseLayer, parseMessage, serializeLayer, serializeMessage } from './tl/serialize.js';
import { keyVisualization } from './visualization.js';
import { decryptFile, encryptFile, fileKeyFingerprint } from './files.js';

const key = hex(vectors.key);

it('has every constructor id the schema lines give (CRC32 recomputed by the generator)', () => {
  const ours = Object.fromEntries(Object.entries(CONSTRUCTOR_IDS).map(([n, id]) => [n, id.toString(16).padStart(8, '0')]));
  expect(ours).toEqual(vectors.constructorIds);
});

it('AES-256-IGE: encrypts as the hand-composed Python IGE, on both block backends, and decrypts back', () => {
  for (const v of vectors.ige) {
    for (const backend of [undefined, nobleBlockBackend]) {
      expect(bytesToHex(aes256IgeEncrypt(hex(v.key), hex(v.iv), hex(v.plaintext), backend))).toBe(v.ciphertext);
      expect(bytesToHex(aes256IgeDecrypt(hex(v.key), hex(v.iv), hex(v.ciphertext), backend))).toBe(v.plaintext);
    }
  }
});

it('KDF: aes_key and the 32-byte aes_iv for x = 0 and x = 8', () => {
  for (const v of vectors.kdf) {
    const { aesKey, aesIv } = deriveIgeKeyIv(key, hex(v.msgKey), v.x);
    expect([bytesToHex(aesKey), bytesToHex(aesIv)]).toEqual([v.aesKey, v.aesIv]);
  }
});

it('key fingerprint: the last 64 bits of SHA1(key), the same as @mtcall/crypto keyFingerprint', () => {
  expect(bytesToHex(keyFingerprintBytes(key))).toBe(vectors.keyFingerprintBytes);
  expect(keyFingerprint(key)).toBe(BigInt(vectors.keyFingerprint));
});

it('key visualization: SHA1(initial key)[0..16] ‖ SHA256(key)[0..20]', () => {
  expect(bytesToHex(keyVisualization(key))).toBe(vectors.visualization);
});

describe('whole messages (fixed padding)', () => {
  it('encrypts to the exact packet: fingerprint ‖ msg_key ‖ IGE(length ‖ TL ‖ padding)', () => {
    for (const v of vectors.messages) {
      const packet = encryptSecretMessage(key, v.x, hex(v.tl), { padding: hex(v.padding) });
      expect(bytesToHex(packet)).toBe(v.packet);
      const data = new Uint8Array([...new Uint8Array(new Uint32Array([hex(v.tl).length]).buffer), ...hex(v.tl), ...hex(v.padding)]);
      expect(bytesToHex(computeMsgKey(key, v.x, data))).toBe(v.msgKey);
      const { aesKey, aesIv } = deriveIgeKeyIv(key, hex(v.msgKey), v.x);
      expect([bytesToHex(aesKey), bytesToHex(aesIv)]).toEqual([v.aesKey, v.aesIv]);
    }
  });

  it('decrypts each to its TL bytes with the same x, and refuses it with the other x', () => {
    for (const v of vectors.messages) {
      const opened = decryptSecretMessage(key, v.x, hex(v.packet));
      expect(opened.ok && bytesToHex(opened.tl)).toBe(v.tl);
      expect(decryptSecretMessage(key, v.x === 0 ? 8 : 0, hex(v.packet))).toEqual({ ok: false, reason: 'msg-key-mismatch' });
    }
  });
});

describe('TL bytes of each constructor', () => {
  it.each(vectors.tl.map((v) => [v.name, v] as const))('%s: serializes to the vector and parses back to the object', (_name, v) => {
    const object = revive(v.object) as DecryptedMessageLayer | AnyDecryptedMessage;
    if (object._ === 'decryptedMessageLayer') {
      expect(bytesToHex(serializeLayer(object))).toBe(v.hex);
      const parsed = parseLayer(hex(v.hex));
      expect(parsed).toEqual({ ok: true, value: object });
    } else {
      expect(bytesToHex(serializeMessage(object))).toBe(v.hex);
      expect(parseMessage(hex(v.hex))).toEqual({ ok: true, value: object });
    }
  });
});

describe('files', () => {
  it('fingerprint: md5(key ‖ iv), bytes 0..4 XOR 4..8 as a little-endian int32', () => {
    for (const v of vectors.files) expect(fileKeyFingerprint({ key: hex(v.key), iv: hex(v.iv) })).toBe(v.fingerprint);
  });

  it('encrypts a file into the vector parts (one IGE chain, zero-padded end) and decrypts it back', () => {
    const v = vectors.files[0]!;
    const fileKey = { key: hex(v.key), iv: hex(v.iv) };
    const data = hex(v.data!);
    expect(encryptFile(data, fileKey, v.partSize!).map(bytesToHex)).toEqual(v.parts);
    const back = decryptFile(v.parts!.map(hex), fileKey, data.length, v.fingerprint);
    expect(back && bytesToHex(back)).toBe(v.data);
  });
});
