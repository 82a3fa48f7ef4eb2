// The worker's WebCrypto hybrid on Node's WebCrypto (same API, no browser): byte-exact with encryptPacket on the
// Node backend, and the check that guards the browser run really fails on a wrong implementation.
import { encryptPacket, nobleBackend } from '@mtcall/crypto';
import { describe, expect, it } from 'vitest';
import { checkHybrid, createWebCryptoHybridSealer, randomBytes } from './browser-bench.js';

describe('createWebCryptoHybridSealer', () => {
  it('is byte-exact with encryptPacket at every x and at sizes around the AES block', async () => {
    const key = randomBytes(256);
    for (const x of [0, 8, 128, 136] as const) {
      const seal = createWebCryptoHybridSealer(key, x, crypto.subtle, (d) => nobleBackend.sha256(d));
      for (const size of [1, 15, 16, 17, 160, 1200, 4096, 70_000]) {
        const body = randomBytes(size);
        expect(await seal(body)).toEqual(encryptPacket(key, x, body));
      }
    }
  });

  it('is checked before the browser run, and the check fails loudly on a wrong hybrid', async () => {
    await expect(checkHybrid([160, 4096])).resolves.toEqual([1, 15, 16, 17, 100, 160, 4096]);
    // A subtle whose AES-CTR starts one counter block off: every ciphertext byte differs, msg_key does not.
    const subtle = crypto.subtle;
    type EncryptArgs = Parameters<typeof subtle.encrypt>;
    const wrong = {
      digest: subtle.digest.bind(subtle),
      importKey: subtle.importKey.bind(subtle),
      encrypt: (algorithm: EncryptArgs[0], key: EncryptArgs[1], data: EncryptArgs[2]) => {
        const ctr = algorithm as { name: string; counter: Uint8Array; length: number };
        const counter = new Uint8Array(ctr.counter);
        counter[15]! ^= 1;
        return subtle.encrypt({ name: ctr.name, counter, length: ctr.length }, key, data);
      },
    } as unknown as typeof subtle;
    await expect(checkHybrid([160], wrong)).rejects.toThrow(/not byte-exact with encryptPacket .* first difference at byte 16/);
  });
});

describe('randomBytes', () => {
  it('fills buffers larger than getRandomValues allows in one call', () => {
    const bytes = randomBytes(200_000);
    expect(bytes.length).toBe(200_000);
    expect(bytes.subarray(150_000, 150_064).some((b) => b !== 0)).toBe(true);
  });
});
