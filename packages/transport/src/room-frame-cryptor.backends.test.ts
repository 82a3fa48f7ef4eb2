// Rooms run on the same backends as calls: the browsers' (WebAssembly SHA-256, @noble; Web Crypto from
// DEFAULT_ASYNC_THRESHOLD) give the same wire bytes as the reference (Node's OpenSSL) and open what it seals.
import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { bytesToHex, getNodeBackend, loadWasmBackend, nobleBackend, preferredBackend, type CryptoBackend } from '@mtcall/crypto';
import { RoomFrameCryptor, type RoomStreamRef } from './room-frame-cryptor.js';

const MIC: RoomStreamRef = { kind: 'audio', source: 'audio' };
const CAM: RoomStreamRef = { kind: 'video', source: 'video' };
const SIZES = [0, 1, 16, 159, 160, 511, 512, 1200, 2047, 2048, 4096, 65536];
const secret = new Uint8Array(32).fill(5);

function member(self: number, options: ConstructorParameters<typeof RoomFrameCryptor>[2]): RoomFrameCryptor {
  const c = new RoomFrameCryptor('room', self, options);
  c.install(3, secret);
  c.switchTo(3);
  return c;
}

describe('RoomFrameCryptor on the browsers\' backends', async () => {
  const wasm = await loadWasmBackend();
  const reference = getNodeBackend()!;

  it('defaults to the preferred backend, as calls do', () => {
    expect(new RoomFrameCryptor('room', 1).backendName).toBe(preferredBackend().name);
    expect(new RoomFrameCryptor('room', 1, { backend: nobleBackend }).backendName).toBe('noble');
  });

  const cases: [string, CryptoBackend, number | undefined][] = [
    ['wasm, sync only', wasm, Infinity],
    ['wasm, default switch', wasm, undefined],
    ['wasm, Web Crypto only', wasm, 0],
    ['noble, default switch', nobleBackend, undefined],
  ];
  it.each(cases)('%s: byte-identical to the Node backend, and opened by it', async (_name, backend, threshold) => {
    const extra = threshold !== undefined ? { asyncThreshold: threshold } : {};
    const ours = member(1, { backend, ...extra });
    const ref = member(1, { backend: reference, asyncBackend: null });
    const peer = member(2, { backend: reference, asyncBackend: null });
    const back = member(2, { backend, ...extra });
    for (const size of SIZES) {
      for (const [stream, codec] of [[MIC, 'opus'], [CAM, 'VP8'], [CAM, 'H264']] as const) {
        const frame = new Uint8Array(randomBytes(size));
        if (codec === 'H264' && size >= 8) frame.set([0, 0, 0, 1, 0x65], 0);
        const wire = await ours.encryptAsync(frame, stream, codec);
        expect(bytesToHex(wire)).toBe(bytesToHex(ref.encrypt(frame, stream, codec)));
        const opened = peer.decrypt(wire, stream, 1);
        expect(opened.ok && bytesToHex(opened.frame)).toBe(bytesToHex(frame));
        const theirs = await back.decryptAsync(ref.encrypt(frame, stream, codec), stream, 1);
        expect(theirs.ok && bytesToHex(theirs.frame)).toBe(bytesToHex(frame));
        await ours.encryptAsync(frame, stream, codec); // keep both sealers' seqs in step with the reference's two
      }
    }
    expect(back.stats.dropped.auth).toBe(0);
  });
});
