// The worker's rows on Node's WebCrypto (same API, no browser): the three cryptors the rows use give the same wire
// bytes, and the check that guards the browser run really fails on a path that differs.
import { FrameCryptor } from '@mtcall/transport';
import { describe, expect, it } from 'vitest';
import { checkPaths, openWorkload, pacedWorkload, randomBytes, randomFrames, sealFrames, sealWorkload, timeRepeat, type FrameCryptorClass } from './browser-bench.js';

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

describe('paced rows', () => {
  it('run every step once per frame, in order, after prepare, and count only the steps: never the gaps', async () => {
    const seen: number[] = [];
    let prepared = 0;
    const workload = pacedWorkload(async (i) => void seen.push(i), { prepare: () => void prepared++, frames: 5, gapMs: 30 });
    workload.prepare?.();
    const counted = await workload.run();
    expect(seen).toEqual([0, 1, 2, 3, 4]);
    expect(prepared).toBe(1);
    // Five gaps of 30 ms passed; the counted time is the five steps' (each a resolved promise).
    expect(typeof counted).toBe('number');
    expect(counted as number).toBeLessThan(5 * 30);
    // timeRepeat uses the counted time: at 30 ms per gap a wall-clock rate could not reach 1000 / 30 frames/s.
    expect(await timeRepeat(workload, 0.1)).toBeGreaterThan(1000 / 30);
  });
});

describe('randomBytes', () => {
  it('fills buffers larger than getRandomValues allows in one call', () => {
    const bytes = randomBytes(200_000);
    expect(bytes.length).toBe(200_000);
    expect(bytes.subarray(150_000, 150_064).some((b) => b !== 0)).toBe(true);
  });
});
