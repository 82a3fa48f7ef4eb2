// The worker's rows on Node's WebCrypto (same API, no browser): the three cryptors the rows use give the same wire
// bytes, and the check that guards the browser run really fails on a path that differs.
import { FrameCryptor } from '@mtcall/transport';
import { describe, expect, it } from 'vitest';
import { checkPaths, openWorkload, randomBytes, randomFrames, sealFrames, sealWorkload, type FrameCryptorClass } from './browser-bench.js';

describe('checkPaths', () => {
  it('finds the default, synchronous and Web Crypto paths byte-identical', async () => {
    await expect(checkPaths(FrameCryptor, [160, 4096])).resolves.toEqual([0, 1, 15, 16, 17, 100, 160, 511, 512, 513, 4096]);
  });

  it('fails loudly on a path that differs', async () => {
    // A cryptor whose Web Crypto path flips one byte: the check must say so before anything is timed.
    class Wrong extends FrameCryptor {
      readonly #webCryptoOnly: boolean;
      constructor(...args: ConstructorParameters<typeof FrameCryptor>) {
        super(...args);
        this.#webCryptoOnly = args[2]?.asyncThreshold === 0;
      }
      override async encryptAsync(...args: Parameters<FrameCryptor['encryptAsync']>): Promise<Uint8Array> {
        const wire = await super.encryptAsync(...args);
        if (this.#webCryptoOnly && args[0].length >= 4096) wire[20]! ^= 1;
        return wire;
      }
    }
    await expect(checkPaths(Wrong as FrameCryptorClass, [4096])).rejects.toThrow(/Web Crypto path differs from its default at 4096 B: first difference at byte 20/);
  });
});

describe('seal and open rows', () => {
  it('open opens every frame seal made, and throws when one is dropped', async () => {
    const key = randomBytes(256);
    const frames = randomFrames(1200, 8);
    const seal = sealWorkload(FrameCryptor, key, frames);
    await seal.run();
    const wires = await sealFrames(FrameCryptor, key, frames);
    const open = openWorkload(FrameCryptor, key, wires);
    open.prepare?.();
    await open.run();
    wires[3]![30]! ^= 1;
    open.prepare?.();
    await expect(open.run()).rejects.toThrow(/1 frame\(s\) dropped \(last reason auth\)/);
  });
});

describe('randomBytes', () => {
  it('fills buffers larger than getRandomValues allows in one call', () => {
    const bytes = randomBytes(200_000);
    expect(bytes.length).toBe(200_000);
    expect(bytes.subarray(150_000, 150_064).some((b) => b !== 0)).toBe(true);
  });
});
