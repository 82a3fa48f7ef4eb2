// The WebAssembly SHA-256 backend is byte-identical to the reference: the independent vectors, a hand-assembled
// OpenSSL reading of the spec on random keys and bodies, and a sealer/opener pair against the Node backend.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { getNodeBackend, loadWasmBackend, preferredBackend, wasmBackendIfLoaded } from './index.js';
import { bytesToHex } from '../bytes.js';
import { computeMsgKey, decryptPacket, deriveAesKeyIv, encryptPacket } from '../packet.js';
import { PacketOpener, PacketSealer } from '../sealer.js';
import type { ChannelOffset } from '../channel.js';
import { hex, vectors } from '../test-support/vectors.js';

const key = hex(vectors.key);

function referenceEncrypt(k: Uint8Array, x: number, body: Uint8Array): Uint8Array {
  const msgKey = createHash('sha256').update(k.subarray(88 + x, 120 + x)).update(body).digest().subarray(8, 24);
  const a = createHash('sha256').update(msgKey).update(k.subarray(x, x + 36)).digest();
  const b = createHash('sha256').update(k.subarray(40 + x, 76 + x)).update(msgKey).digest();
  const aesKey = Buffer.concat([a.subarray(0, 8), b.subarray(8, 24), a.subarray(24, 32)]);
  const aesIv = Buffer.concat([b.subarray(0, 4), a.subarray(8, 16), b.subarray(24, 28)]);
  const c = createCipheriv('aes-256-ctr', aesKey, aesIv);
  return Buffer.concat([msgKey, c.update(body), c.final()]);
}

describe('wasm backend', async () => {
  expect(wasmBackendIfLoaded()).toBeUndefined();
  const wasm = await loadWasmBackend();

  it('loads once, and Node still prefers its OpenSSL', async () => {
    expect(wasm.name).toBe('wasm');
    expect(await loadWasmBackend()).toBe(wasm);
    expect(wasmBackendIfLoaded()).toBe(wasm);
    expect(preferredBackend()).toBe(getNodeBackend());
  });

  it('hashes like OpenSSL at every length across the block and chunk boundaries, one part or two', () => {
    for (const n of [0, 1, 31, 32, 55, 56, 63, 64, 65, 119, 120, 1000, 16_383, 16_384, 16_385, 70_000]) {
      const data = randomBytes(n);
      const expected = createHash('sha256').update(data).digest('hex');
      expect(bytesToHex(wasm.sha256(data))).toBe(expected);
      expect(bytesToHex(wasm.sha256(data.subarray(0, n >> 1), data.subarray(n >> 1)))).toBe(expected);
    }
  });

  it('matches the independent vectors (Python hashlib + openssl enc)', () => {
    for (const v of vectors.packets) {
      const x = v.x as ChannelOffset;
      const body = hex(v.body);
      expect(bytesToHex(computeMsgKey(key, x, body, wasm))).toBe(v.msgKey);
      const { aesKey, aesIv } = deriveAesKeyIv(key, hex(v.msgKey), x, wasm);
      expect(bytesToHex(aesKey)).toBe(v.aesKey);
      expect(bytesToHex(aesIv)).toBe(v.aesIv);
      expect(bytesToHex(encryptPacket(key, x, body, wasm))).toBe(v.packet);
      expect(bytesToHex(decryptPacket(key, x, hex(v.packet), wasm)!)).toBe(v.body);
    }
  });

  it('matches the hand-assembled OpenSSL reference on random keys and bodies 0..65536 bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 256, maxLength: 256 }), fc.constantFrom<ChannelOffset>(0, 8, 128, 136), fc.integer({ min: 0, max: 65536 }), (k, x, n) => {
        const body = randomBytes(n);
        const packet = encryptPacket(k, x, body, wasm);
        expect(Buffer.from(packet).equals(referenceEncrypt(k, x, body))).toBe(true);
        expect(Buffer.from(decryptPacket(k, x, packet, wasm)!).equals(body)).toBe(true);
      }),
      { numRuns: 100, seed: 20260217 },
    );
  });

  it('seals what the Node backend seals, and each opens the other', () => {
    const k = randomBytes(256);
    const viaWasm = new PacketSealer(k, { outgoing: true, channel: 'transport' }, { backend: wasm });
    const viaNode = new PacketSealer(k, { outgoing: true, channel: 'transport' }, { backend: getNodeBackend()! });
    const openWasm = new PacketOpener(k, { outgoing: false, channel: 'transport' }, { backend: wasm });
    const openNode = new PacketOpener(k, { outgoing: false, channel: 'transport' }, { backend: getNodeBackend()! });
    for (const n of [0, 160, 1200, 4096, 65536]) {
      const frame = randomBytes(n);
      const a = viaWasm.sealMessage(frame);
      expect(bytesToHex(a)).toBe(bytesToHex(viaNode.sealMessage(frame)));
      expect(openNode.open(a).ok).toBe(true);
      expect(openWasm.open(viaNode.sealMessage(frame)).ok).toBe(true);
      viaWasm.sealMessage(frame); // keep the seqs in step
    }
  });
});
