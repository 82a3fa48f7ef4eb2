// The browsers' backends give the same wire bytes as the reference (Node's OpenSSL) through FrameCryptor, on the
// synchronous and the Web Crypto path, for every codec format: the WebAssembly SHA-256 changes speed, never bytes.
import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { bytesToHex, getNodeBackend, loadWasmBackend, nobleBackend, type CryptoBackend } from '@mtcall/crypto';
import { FrameCryptor, type MediaStreamRef } from './frame-cryptor.js';

const CAMERA: MediaStreamRef = { kind: 'video', mid: '1' };
const MIC: MediaStreamRef = { kind: 'audio', mid: '0' };
const SIZES = [0, 1, 15, 16, 17, 159, 160, 511, 512, 513, 1200, 4096, 65536];

describe('FrameCryptor on the browsers\' backends', async () => {
  const wasm = await loadWasmBackend();
  const reference = getNodeBackend()!;

  const cases: [string, CryptoBackend, number | undefined][] = [
    ['wasm, sync only', wasm, Infinity],
    ['wasm, default switch', wasm, undefined],
    ['wasm, Web Crypto only', wasm, 0],
    ['noble, default switch', nobleBackend, undefined],
  ];
  it.each(cases)('%s: byte-identical to the Node backend, and opened by it', async (_name, backend, threshold) => {
    const key = new Uint8Array(randomBytes(256));
    const ours = new FrameCryptor(key, 'caller', { backend, ...(threshold !== undefined ? { asyncThreshold: threshold } : {}) });
    const ref = new FrameCryptor(key, 'caller', { backend: reference, asyncBackend: null });
    const peer = new FrameCryptor(key, 'callee', { backend: reference, asyncBackend: null });
    const back = new FrameCryptor(key, 'callee', { backend, ...(threshold !== undefined ? { asyncThreshold: threshold } : {}) });
    for (const size of SIZES) {
      for (const [stream, codec] of [[MIC, 'opus'], [CAMERA, 'VP8'], [CAMERA, 'VP9'], [CAMERA, 'H264']] as const) {
        const frame = new Uint8Array(randomBytes(size));
        if (codec === 'H264' && size >= 8) frame.set([0, 0, 0, 1, 0x65], 0);
        const wire = await ours.encryptAsync(frame, stream, codec);
        expect(bytesToHex(wire)).toBe(bytesToHex(ref.encrypt(frame, stream, codec)));
        const opened = peer.decrypt(wire, stream);
        expect(opened.ok && bytesToHex(opened.frame)).toBe(bytesToHex(frame));
        const theirs = await back.decryptAsync(ref.encrypt(frame, stream, codec), stream);
        expect(theirs.ok).toBe(true);
        await ours.encryptAsync(frame, stream, codec); // keep both sealers' seqs in step with the reference's two
      }
    }
  });
});
