import { describe, expect, it } from 'vitest';
import { randomBytes } from '@mtcall/crypto';
import { FrameCryptor } from '@mtcall/transport';
import { Vp8Depacketizer, VideoReceiver, type VideoRtp } from './video.js';

/** A VP8 frame (uncompressed data chunk first: byte 0 bit 0 is P, 0 on key frames), of `size` bytes. */
function vp8Frame(size: number, key: boolean, fill: number): Uint8Array {
  const frame = new Uint8Array(size).fill(fill);
  frame[0] = key ? 0x10 : 0x11; // show_frame, P
  frame[1] = 0x02;
  frame[2] = 0x00;
  if (key) frame.set([0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01], 3); // start code, 640×480
  return frame;
}

/**
 * Packetizes a frame as Chromium does (RFC 7741): X=1 with a 15-bit PictureID (I, M), S=1 and PID 0 on the first
 * packet, the marker on the last.
 */
function packetize(frame: Uint8Array, seq: number, timestamp: number, pictureId: number, mtu = 100): VideoRtp[] {
  const packets: VideoRtp[] = [];
  for (let at = 0, i = 0; at < frame.length; at += mtu, i++) {
    const chunk = frame.subarray(at, at + mtu);
    const descriptor = [0x80 | (at === 0 ? 0x10 : 0), 0x80, 0x80 | ((pictureId >> 8) & 0x7f), pictureId & 0xff];
    const payload = new Uint8Array(descriptor.length + chunk.length);
    payload.set(descriptor);
    payload.set(chunk, descriptor.length);
    packets.push({ sequenceNumber: (seq + i) & 0xffff, timestamp, marker: at + mtu >= frame.length, payload });
  }
  return packets;
}

describe('Vp8Depacketizer: RTP → whole VP8 frames', () => {
  it('reassembles frames in order across a sequence-number wrap, and finds the key frames', () => {
    const d = new Vp8Depacketizer();
    const frames = [vp8Frame(250, true, 1), vp8Frame(120, false, 2), vp8Frame(30, false, 3)];
    let seq = 0xfffd;
    const out = [];
    for (const [i, frame] of frames.entries()) {
      const packets = packetize(frame, seq, 3000 * i, 200 + i);
      seq += packets.length;
      for (const p of packets) out.push(...d.push(p));
    }
    expect(out.map((f) => f.data)).toEqual(frames);
    expect(out.map((f) => f.keyFrame)).toEqual([true, false, false]);
    expect(out.map((f) => f.packets)).toEqual([3, 2, 1]);
    expect(d.stats).toEqual({ packets: 6, frames: 3, incomplete: 0, late: 0, malformedPackets: 0 });
  });

  it('puts packets reordered within a frame back in order, and ignores duplicates', () => {
    const d = new Vp8Depacketizer();
    const frame = vp8Frame(450, true, 7);
    const packets = packetize(frame, 100, 9000, 5);
    const shuffled = [packets[2]!, packets[4]!, packets[0]!, packets[0]!, packets[3]!, packets[1]!];
    const out = shuffled.flatMap((p) => d.push(p));
    expect(out).toHaveLength(1);
    expect(out[0]!.data).toEqual(frame);
    expect(d.push(packets[1]!)).toEqual([]); // after the frame left: late
    expect(d.stats).toMatchObject({ frames: 1, late: 2, incomplete: 0 });
  });

  it('drops a frame with a lost packet once the next frame completes; the lost packet arriving later is ignored', () => {
    const d = new Vp8Depacketizer();
    const a = packetize(vp8Frame(250, true, 1), 10, 0, 1);
    const b = packetize(vp8Frame(250, false, 2), 13, 3000, 2);
    const c = packetize(vp8Frame(50, false, 3), 16, 6000, 3);
    const out = [a[0]!, a[2]!, ...b, a[1]!, ...c].flatMap((p) => d.push(p)); // a[1] lost until after b
    expect(out.map((f) => f.timestamp)).toEqual([3000, 6000]);
    expect(d.stats).toMatchObject({ frames: 2, incomplete: 1, late: 1 });
  });

  it('drops a frame whose first packet is lost, and one that never ends; a packet with no payload is malformed', () => {
    const d = new Vp8Depacketizer();
    const a = packetize(vp8Frame(250, true, 1), 0, 0, 1);
    const b = packetize(vp8Frame(250, false, 2), 3, 3000, 2);
    const c = packetize(vp8Frame(250, false, 3), 6, 6000, 3);
    const out = [a[1]!, a[2]!, b[0]!, b[1]!, ...c].flatMap((p) => d.push(p));
    expect(out.map((f) => f.timestamp)).toEqual([6000]);
    expect(d.push({ sequenceNumber: 9, timestamp: 9000, marker: true, payload: new Uint8Array([0x10]) })).toEqual([]);
    expect(d.stats).toMatchObject({ frames: 1, incomplete: 2, malformedPackets: 1 });
  });
});

describe('VideoReceiver: RTP → frames → FrameCryptor', () => {
  it('opens frames the caller sealed (key frames counted), and counts tampered, replayed and lost ones', () => {
    const key = randomBytes(256);
    const caller = new FrameCryptor(key, 'caller', { asyncBackend: null });
    const callee = new FrameCryptor(key, 'callee', { asyncBackend: null });
    const rx = new VideoReceiver(callee);
    const plain: Uint8Array[] = [];
    const wire: VideoRtp[][] = [];
    let seq = 40_000;
    for (let i = 0; i < 30; i++) {
      const frame = vp8Frame(i % 10 === 0 ? 900 : 200 + i, i % 10 === 0, i);
      plain.push(frame);
      const packets = packetize(caller.encrypt(frame, { kind: 'video', mid: '1' }, 'VP8'), seq, i * 3000, i, 100);
      seq += packets.length;
      wire.push(packets);
    }
    const opened: Uint8Array[] = [];
    for (const [i, packets] of wire.entries()) {
      if (i === 5) packets[0]!.payload[packets[0]!.payload.length - 1]! ^= 1; // a bit flipped in the ciphertext
      if (i === 6) packets[0]!.payload[4 + 1]! ^= 0x40; // in the clear VP8 header (sealed too)
      for (const p of i === 8 ? packets.slice(1) : packets) opened.push(...rx.receive(p, '1', 'video/VP8'));
    }
    opened.push(...wire[3]!.flatMap((p) => rx.receive({ ...p, sequenceNumber: (p.sequenceNumber + 2000) & 0xffff }, '1'))); // a replay, re-sent
    const r = rx.report();
    expect(r.framesOpened).toBe(27);
    expect(opened).toEqual(plain.filter((_, i) => i !== 5 && i !== 6 && i !== 8));
    expect(r.keyFrames).toBe(3);
    expect(r.codecs).toEqual(['video/VP8']);
    expect(r.dropped).toEqual({ incomplete: 1, auth: 1, replay: 1, malformed: 0, 'too-old': 0, 'wrong-stream': 0, 'clear-mismatch': 1 });
  });

  it('with a wrong key every frame is an auth drop', () => {
    const key = randomBytes(256);
    const caller = new FrameCryptor(key, 'caller', { asyncBackend: null });
    const rx = new VideoReceiver(new FrameCryptor(key.map((b, i) => (i === 100 ? b ^ 1 : b)), 'callee', { asyncBackend: null }));
    for (let i = 0; i < 10; i++) for (const p of packetize(caller.encrypt(vp8Frame(300, i === 0, i), { kind: 'video', mid: '1' }, 'VP8'), i * 4, i * 3000, i)) rx.receive(p, '1');
    expect(rx.report()).toMatchObject({ framesOpened: 0, frames: 10, dropped: { auth: 10 } });
  });
});
