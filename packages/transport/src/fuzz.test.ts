/**
 * Fuzz tests of the transport's frame framing: `FrameCryptor.decrypt` (audio and video; Opus, VP8, H.264 and
 * opaque layouts), `unescapeEmulation` and `h264ClearLength`.
 *
 * Inputs: random bytes (with and without a valid trailer byte), mutations of genuine wire frames (a bit flipped,
 * truncated, extended, bytes inserted or deleted, spliced), boundary sizes (empty, 1, 15/16/17 bytes, 1 MiB,
 * past the 4 MiB limit), frames of another stream (the other kind, or another video track), of the other
 * direction, sealed with a previous call's key, replays and reordering. Invariants: nothing throws; no forged,
 * stray or replayed frame is ever accepted (the one tolerated change: an H.264 start code's length in the clear
 * part, which depacketizers rewrite — such a frame opens, but only ever to the genuine sealed frame, once); a drop
 * changes no state; counters add up.
 *
 * Reproducible: every target runs under a fixed fast-check seed. Each fast-check run draws one 32-bit batch
 * seed and runs a batch of cases from a small deterministic PRNG seeded with it (amortizing fast-check's
 * per-run overhead); a failure reports the batch seed as the counterexample and the case inside the batch.
 *
 * Volume: at least 100 000 cases per target by default.
 *   Long mode:      MTCALL_FUZZ_RUNS=20 npx vitest run src/fuzz.test.ts   (multiplies every case count; default and minimum 1)
 *   Another seed:   MTCALL_FUZZ_SEED=12345 npx vitest run src/fuzz.test.ts (default: the fixed seeds below)
 *   Case counts:    MTCALL_FUZZ_VERBOSE=1 prints how many cases of each kind every target ran
 * Nothing here measures time.
 */

import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { REPLAY_WINDOW_SIZE, concatBytes, getNodeBackend, nobleBackend, type CryptoBackend, type ReplayVerdict } from '@mtcall/crypto';
import { FRAME_DROP_REASONS, FrameCryptor, type FrameDropReason, type MediaKind, type MediaStreamRef } from './frame-cryptor.js';
import { escapeEmulation, h264ClearLength, unescapeEmulation } from './codecs/h264.js';
import { RUNS, TIMEOUT, Rng, fuzz, report, check, hexOf, short, equal, randomLength, randomBytes, mutate, presented, ModelWindow } from '@mtcall/testkit';

const setup = new Rng(0x7a05);
/** The call key, and a previous call's key. */
const KEY = setup.bytes(256);
const OLD_KEY = setup.bytes(256);
const MAX_FRAME_BYTES = 4 * 1024 * 1024;
const node = getNodeBackend();
/** The two backends: Node's OpenSSL here, @noble in the browser's encoded-transform worker. */
const BACKENDS: CryptoBackend[] = node ? [node, nobleBackend] : [nobleBackend];

type Codec = 'opus' | 'VP8' | 'H264' | 'VP9';

/** The call's streams: a microphone, a camera and a screen share (two video tracks). */
const STREAMS: readonly MediaStreamRef[] = [{ kind: 'audio', mid: '0' }, { kind: 'video', mid: '1' }, { kind: 'video', mid: '2' }];
const streamOf = (codec: Codec, rng: Rng): MediaStreamRef => (codec === 'opus' ? STREAMS[0]! : rng.pick([STREAMS[1]!, STREAMS[2]!]));

/** Annex-B H.264: optional SPS/PPS/SEI, then (usually) a slice NAL with a payload heavy in zeros and small bytes. */
function h264Frame(rng: Rng): Uint8Array {
  const parts: Uint8Array[] = [];
  const startCode = () => (rng.chance(0.5) ? new Uint8Array([0, 0, 0, 1]) : new Uint8Array([0, 0, 1]));
  const nalPayload = (n: number) => rng.bytes(n).map((b) => (b < 120 ? b & 3 : b));
  if (rng.chance(0.5)) parts.push(startCode(), new Uint8Array([0x67, 0x42, 0x00, 0x1f]), nalPayload(rng.int(6)).map((b) => b | 4));
  if (rng.chance(0.5)) parts.push(startCode(), new Uint8Array([0x68, 0xce, 0x3c, 0x80]));
  if (rng.chance(0.1)) parts.push(startCode(), new Uint8Array([0x06]), rng.bytes(rng.int(4)).map((b) => b | 4));
  if (rng.chance(0.92)) {
    parts.push(startCode(), new Uint8Array([rng.pick([0x65, 0x41, 0x25, 0x01])]));
    // 2 slice-header bytes (sometimes ending in zeros: the clear/cipher seam), then the payload.
    parts.push(rng.chance(0.3) ? new Uint8Array([0x88, 0]) : rng.chance(0.2) ? new Uint8Array([0, 0]) : rng.bytes(2));
    parts.push(nalPayload(rng.chance(0.1) ? rng.int(3) : rng.range(1, 300)));
  }
  if (parts.length === 0) parts.push(nalPayload(rng.range(1, 20))); // never empty (an empty frame is DTX)
  return concatBytes(...parts);
}

function frameFor(rng: Rng, codec: Codec): Uint8Array {
  if (codec === 'H264') return h264Frame(rng);
  if (codec === 'opus' && rng.chance(0.05)) return new Uint8Array(0); // DTX: sealed like any frame
  const length = rng.chance(0.15) ? rng.pick([1, 2, 3, 4, 9, 10, 11, 15, 16, 17]) : rng.range(1, codec === 'opus' ? 160 : 600);
  const frame = rng.bytes(length);
  if (codec === 'VP8' && rng.chance(0.3)) frame[0] = frame[0]! & 0xfe; // a key frame (10 clear bytes)
  return frame;
}

/** A 4-byte start code in the clear part shortened to 3 bytes: start-code lengths are what depacketizers rewrite. */
function rewriteStartCode(rng: Rng, wire: Uint8Array): Uint8Array | undefined {
  const clear = h264ClearLength(wire);
  const spots: number[] = [];
  for (let i = 0; i + 4 <= clear - 3; i++) if (wire[i] === 0 && wire[i + 1] === 0 && wire[i + 2] === 0 && wire[i + 3] === 1) spots.push(i);
  if (spots.length === 0) return undefined;
  const at = rng.pick(spots);
  return concatBytes(wire.subarray(0, at), wire.subarray(at + 1));
}

// ---------------------------------------------------------------------------------------------------------------
// FrameCryptor.decrypt

describe('FrameCryptor.decrypt', () => {
  it('opens genuine frames as the per-stream reference windows say; never accepts a forgery, stray or replay; drops change no state; counters add up', { timeout: TIMEOUT }, () => {
    const SESSION = 500;
    const outcomes: Record<string, number> = {};
    const offeredBy: Record<string, number> = {};
    let offeredTotal = 0;
    let h264Tolerated = 0;

    interface Genuine {
      wire: Uint8Array;
      frame: Uint8Array;
      stream: MediaStreamRef;
      codec: Codec;
      seq: number;
      h264: boolean;
      /** Length of the clear part on the wire (VP8 and H.264 layouts). */
      clear: number;
    }

    function newSession(rng: Rng, index: number) {
      const backend = BACKENDS[index % BACKENDS.length]!;
      return {
        caller: new FrameCryptor(KEY, 'caller', { backend }),
        callee: new FrameCryptor(KEY, 'callee', { backend }),
        oldCaller: new FrameCryptor(OLD_KEY, 'caller', { backend }),
        model: new Map(STREAMS.map((st) => [st, new ModelWindow()])),
        byFrame: new Map<string, Genuine>(),
        pending: [] as Genuine[],
        offered: [] as Genuine[],
        seq: 0,
        count: 0,
        empty: 0,
        openedBytes: 0,
        tolerated: 0,
        /** Video-heavy or audio-heavy sessions. */
        videoShare: rng.pick([0.2, 0.5, 0.8]),
      };
    }
    type Session = ReturnType<typeof newSession>;

    function produce(s: Session, rng: Rng): Genuine {
      const kind: MediaKind = rng.chance(s.videoShare) ? 'video' : 'audio';
      const codec: Codec = kind === 'audio' ? 'opus' : rng.pick(['VP8', 'H264', 'H264', 'VP9'] as const);
      let frame = frameFor(rng, codec);
      // Frames are unique in a session, so an opened frame names the genuine frame it came from.
      while (s.byFrame.has(hexOf(frame))) frame = concatBytes(frame, rng.bytes(1));
      const stream = streamOf(codec, rng);
      const wire = s.caller.encrypt(frame, stream, codec);
      const trailer = wire[wire.length - 1];
      const clear = trailer === 0xe2 ? h264ClearLength(wire) : trailer === 0xe1 ? Math.min(wire.length, (wire[0]! & 1) === 0 ? 10 : 3) : 0;
      const g: Genuine = { wire, frame, stream, codec, seq: ++s.seq, h264: trailer === 0xe2, clear };
      s.byFrame.set(hexOf(frame), g);
      return g;
    }

    const tally = (key: string) => (outcomes[key] = (outcomes[key] ?? 0) + 1);

    /** The reference outcome of offering genuine frame `g` to `stream` (its replay window first, then the stream tag). */
    function expected(s: Session, g: Genuine, stream: MediaStreamRef): 'ok' | FrameDropReason {
      const verdict = s.model.get(stream)!.verdict(g.seq);
      if (verdict !== 'ok') return verdict;
      return stream === g.stream ? 'ok' : 'wrong-stream';
    }
    const label = (st: MediaStreamRef) => `${st.kind}-${st.mid}`;

    function offerGenuine(s: Session, rng: Rng, g: Genuine, input: Uint8Array = g.wire): void {
      const stream = rng.chance(0.1) ? rng.pick(STREAMS.filter((st) => st !== g.stream)) : g.stream;
      const want = expected(s, g, stream);
      const before = s.callee.stats;
      s.count++;
      offeredBy.genuine = (offeredBy.genuine ?? 0) + 1;
      offeredBy[`to-${label(stream)}`] = (offeredBy[`to-${label(stream)}`] ?? 0) + 1;
      const result = s.callee.decrypt(presented(rng, input), stream);
      tally(result.ok ? 'opened' : result.reason);
      if (want !== 'ok') {
        check(!result.ok && result.reason === want, () => `genuine ${label(g.stream)}/${g.codec} frame seq ${g.seq} to ${label(stream)}: ${result.ok ? 'ok' : result.reason}, expected ${want} (max ${s.model.get(stream)!.max})`);
        check(s.callee.stats.opened.frames === before.opened.frames, () => 'a drop changed opened');
        return;
      }
      check(result.ok && equal(result.frame, g.frame), () => `genuine ${label(g.stream)}/${g.codec} frame seq ${g.seq} ${result.ok ? 'opened to other bytes' : `dropped as ${result.reason}`} (max ${s.model.get(stream)!.max})`);
      s.model.get(stream)!.accept(g.seq);
      s.openedBytes += g.frame.length;
      if (g.frame.length === 0) s.empty++;
      check(s.callee.stats.opened.frames === before.opened.frames + 1, () => 'opened did not increment by exactly 1');
    }

    /** An input that is not a genuine wire frame: it must be dropped, unless (H.264 only) it opens to a genuine frame. */
    function offerForgery(s: Session, rng: Rng, input: Uint8Array, kindOfForgery: string): void {
      const stream = rng.pick(STREAMS);
      const before = s.callee.stats;
      const arg = presented(rng, input);
      const copy = hexOf(arg);
      s.count++;
      offeredBy[kindOfForgery] = (offeredBy[kindOfForgery] ?? 0) + 1;
      offeredBy[`to-${label(stream)}`] = (offeredBy[`to-${label(stream)}`] ?? 0) + 1;
      const result = s.callee.decrypt(arg, stream);
      check(hexOf(arg) === copy, () => 'decrypt() modified its input');
      tally(result.ok ? 'opened-h264-start-code-rewritten' : result.reason);
      if (input.length === 0) check(!result.ok && result.reason === 'malformed', () => 'an empty wire frame was not dropped as malformed');
      if (result.ok) {
        // Only the documented H.264 case: a start code's length changed in the clear part; the output is the sealed frame.
        const g = s.byFrame.get(hexOf(result.frame));
        check(g !== undefined, () => `${kindOfForgery}: accepted a forged ${label(stream)} frame that opens to bytes never sent: ${short(input)}`);
        check(g!.h264 && g!.stream === stream && expected(s, g!, stream) === 'ok', () => `${kindOfForgery}: accepted a non-H.264, stray or replayed frame (seq ${g!.seq}, ${label(g!.stream)}/${g!.codec}) from ${short(input)}`);
        s.model.get(stream)!.accept(g!.seq);
        s.openedBytes += g!.frame.length;
        h264Tolerated++;
        return;
      }
      check((FRAME_DROP_REASONS as readonly string[]).includes(result.reason), () => `unknown drop reason ${result.reason}`);
      const after = s.callee.stats;
      check(after.opened.frames === before.opened.frames && after.opened.bytes === before.opened.bytes, () => 'a drop changed the opened counters');
      // After a drop the next genuine frame opens as if nothing had happened (the model checks it exactly).
      if (s.pending.length > 0 && rng.chance(0.3)) offerGenuine(s, rng, s.pending.shift()!);
    }

    function step(s: Session, rng: Rng): void {
      while (s.pending.length < 2 || (s.pending.length < 80 && rng.chance(0.5))) s.pending.push(produce(s, rng));
      const r = rng.int(100);
      if (r < 38) {
        const at = rng.chance(0.6) ? 0 : rng.int(rng.chance(0.8) ? Math.min(16, s.pending.length) : s.pending.length);
        const [g] = s.pending.splice(at, 1);
        s.offered.push(g!);
        if (s.offered.length > 300) s.offered.splice(0, 100);
        if (rng.chance(0.03)) return; // lost
        const rewritten = g!.h264 && rng.chance(0.3) ? rewriteStartCode(rng, g!.wire) : undefined;
        offerGenuine(s, rng, g!, rewritten);
      } else if (r < 48 && s.offered.length > 0) {
        offerGenuine(s, rng, s.offered[s.offered.length - 1 - rng.int(rng.chance(0.7) ? Math.min(40, s.offered.length) : s.offered.length)]!);
      } else if (r < 75) {
        const src = rng.chance(0.5) && s.offered.length > 0 ? rng.pick(s.offered) : rng.pick(s.pending);
        if (src.clear > 0 && rng.chance(0.3)) {
          // A bit flipped in the clear part the packetizer reads (VP8 payload header, H.264 NAL headers).
          const forged = src.wire.slice();
          forged[rng.int(src.clear)]! ^= 1 << rng.int(8);
          offerForgery(s, rng, forged, 'mutated-clear');
        } else offerForgery(s, rng, mutate(rng, src.wire, rng.pick(s.pending).wire), 'mutated');
      } else if (r < 81) {
        // The other direction (x = 8, sealed by the callee itself), same key: never opens here.
        const codec: Codec = rng.pick(['opus', 'VP8', 'H264', 'VP9'] as const);
        const frame = frameFor(rng, codec);
        if (frame.length === 0) s.empty++; // the callee's own stats count the empty frames it seals too
        offerForgery(s, rng, s.callee.encrypt(frame, streamOf(codec, rng), codec), 'other-direction');
      } else if (r < 87) {
        const codec: Codec = rng.pick(['opus', 'VP8', 'H264', 'VP9'] as const);
        offerForgery(s, rng, s.oldCaller.encrypt(frameFor(rng, codec), streamOf(codec, rng), codec), 'previous-key');
      } else if (r < 93) {
        // Random bytes ending in a valid trailer (opaque, VP8, H.264), sometimes behind an H.264 clear part.
        const tail = concatBytes(randomBytes(rng, randomLength(rng)), new Uint8Array([0xe0 | rng.int(3)]));
        offerForgery(s, rng, rng.chance(0.3) ? concatBytes(h264Frame(rng), tail) : tail, 'random-trailer');
      } else if (r < 99) {
        offerForgery(s, rng, randomBytes(rng, randomLength(rng)), 'random');
      } else {
        offerForgery(s, rng, new Uint8Array(0), 'empty');
      }
      if ((s.count & 15) === 0) expectCounters(s);
    }

    function expectCounters(s: Session): void {
      const st = s.callee.stats;
      let dropped = 0;
      for (const r of FRAME_DROP_REASONS) dropped += st.dropped[r];
      check(st.opened.frames + dropped === s.count, () => `counters: opened ${st.opened.frames} + dropped ${dropped} != offered ${s.count}`);
      check(st.empty === s.empty && st.opened.bytes === s.openedBytes, () => `empty ${st.empty}/${s.empty} or bytes ${st.opened.bytes}/${s.openedBytes} differ`);
    }

    let session: Session;
    let sessions = 0;
    const done = fuzz(0x7f, 100_000, SESSION, (rng, index) => {
      if (index === 0) session = newSession(rng, sessions++);
      step(session, rng);
      if (index === SESSION - 1) {
        expectCounters(session);
        offeredTotal += session.count;
        if (rng.chance(0.2)) {
          session.callee.destroy();
          const g = session.pending[0]!;
          const result = session.callee.decrypt(g.wire, g.stream);
          check(!result.ok && result.reason === 'auth', () => 'a destroyed cryptor opened a frame');
        }
      }
    });
    report('FrameCryptor.decrypt', { steps: done, offered: offeredTotal, sessions, h264Tolerated, ...offeredBy, ...outcomes });
    expect(done).toBeGreaterThanOrEqual(100_000 * RUNS);
    expect(offeredTotal).toBeGreaterThanOrEqual(done);
    for (const k of ['opened', 'auth', 'replay', 'malformed', 'too-old', 'wrong-stream', 'clear-mismatch']) expect(outcomes[k], k).toBeGreaterThan(50);
  });

  it('boundary sizes: empty, 1, 15/16/17 bytes with every trailer, 1 MiB genuine frames, past the 4 MiB limit', { timeout: TIMEOUT }, () => {
    const rng = new Rng(0xb1);
    for (const backend of BACKENDS) {
      const caller = new FrameCryptor(KEY, 'caller', { backend });
      const callee = new FrameCryptor(KEY, 'callee', { backend });
      let offered = 0;
      for (const stream of [STREAMS[0]!, STREAMS[1]!]) {
        const kind: MediaKind = stream.kind;
        for (const length of [1, 2, 15, 16, 17, 18, 32, 33]) {
          for (const trailer of [0x00, 0xe0, 0xe1, 0xe2, 0xe3, 0xef, 0xff]) {
            for (const fill of [0, 1, -1]) {
              const bytes = fill < 0 ? rng.bytes(length) : new Uint8Array(length).fill(fill);
              bytes[length - 1] = trailer;
              offered++;
              expect(callee.decrypt(bytes, stream).ok, `${length} bytes, trailer ${trailer}`).toBe(false);
            }
          }
        }
        expect(callee.decrypt(new Uint8Array(0), stream)).toEqual({ ok: false, reason: 'malformed' }); // empty frames are sealed too
        offered++;
        for (const codec of kind === 'audio' ? ['opus'] : ['VP8', 'H264', 'VP9']) {
          const frame = codec === 'H264' ? concatBytes(new Uint8Array([0, 0, 0, 1, 0x65, 0x88, 0x80]), rng.bytes(1024 * 1024)) : rng.bytes(1024 * 1024);
          const wire = caller.encrypt(frame, stream, codec);
          const flipped = wire.slice();
          flipped[wire.length >> 1]! ^= 0x20;
          offered += 3;
          expect(callee.decrypt(flipped, stream).ok, `${codec}: 1 MiB frame with a flipped bit`).toBe(false);
          const opened = callee.decrypt(wire, stream);
          expect(opened.ok && equal(opened.frame, frame), `${codec}: 1 MiB frame`).toBe(true);
          expect(callee.decrypt(wire, stream)).toEqual({ ok: false, reason: 'replay' });
        }
      }
      // Past the limit: dropped as malformed before any work, genuine or not.
      const huge = caller.encrypt(rng.bytes(MAX_FRAME_BYTES), STREAMS[1]!, 'VP9');
      expect(huge.length).toBeGreaterThan(MAX_FRAME_BYTES);
      expect(callee.decrypt(huge, STREAMS[1]!)).toEqual({ ok: false, reason: 'malformed' });
      const atLimit = new Uint8Array(MAX_FRAME_BYTES + 2); // an opaque packet of the limit + 1, and its trailer
      atLimit[MAX_FRAME_BYTES + 1] = 0xe0;
      expect(callee.decrypt(atLimit, STREAMS[0]!)).toEqual({ ok: false, reason: 'malformed' });
      offered += 2;
      const st = callee.stats;
      expect(st.opened.frames + Object.values(st.dropped).reduce((a, b) => a + b, 0)).toBe(offered);
      expect(st.empty).toBe(0);
    }
  });

  // Regression (found by the boundary fuzzing): the limit used to apply to the packet inside the wire frame, so a
  // genuine wire frame up to maxFrameBytes + 1 (opaque), + 11 (VP8 key frame) or more (H.264) still opened.
  it('a wire frame one byte over maxFrameBytes is dropped before any work', () => {
    const caller = new FrameCryptor(KEY, 'caller', { maxFrameBytes: 100 });
    const callee = new FrameCryptor(KEY, 'callee', { maxFrameBytes: 100 });
    const wire = caller.encrypt(new Uint8Array(76), STREAMS[0]!, 'opus'); // packet 100 bytes (3 of them the stream tag) + trailer
    expect(wire.length).toBe(101);
    expect(callee.decrypt(wire, STREAMS[0]!)).toEqual({ ok: false, reason: 'malformed' });
  });
});

// ---------------------------------------------------------------------------------------------------------------
// unescapeEmulation

/**
 * An independent reading of emulation prevention, as text operations over the bytes with `precedingZeros` zero
 * bytes in front: the data is invalid if it contains 00 00 00/01/02, and every 03 right after 00 00 is removed.
 */
function referenceUnescape(data: Uint8Array, precedingZeros: number): Uint8Array | null {
  const prefix = Math.min(2, precedingZeros); // only the last two zeros before the data matter
  const text = '\0'.repeat(prefix) + Buffer.from(data.buffer, data.byteOffset, data.length).toString('latin1');
  if (/\0\0[\0-\x02]/.test(text)) return null;
  return new Uint8Array(Buffer.from(text.replace(/(?<=\0\0)\x03/g, '').slice(prefix), 'latin1'));
}

describe('unescapeEmulation', () => {
  it('agrees with a reference on random, escaped and mutated data; inverts escapeEmulation; never throws', { timeout: TIMEOUT }, () => {
    let accepted = 0;
    let escapedCases = 0;
    const done = fuzz(0xe5, 100_000, 2000, (rng) => {
      const precedingZeros = rng.chance(0.9) ? rng.int(3) : rng.range(3, 5);
      const raw = rng.bytes(rng.chance(0.2) ? rng.pick([0, 1, 2, 3, 4, 15, 16, 17]) : rng.int(64)).map((b) => (b < 200 ? b & 3 : b));
      let data: Uint8Array;
      let original: Uint8Array | undefined;
      const r = rng.int(3);
      if (r === 0) data = raw;
      else {
        // Escaped data (the sender's form), as is or mutated.
        const pz = Math.min(2, precedingZeros);
        const escaped = escapeEmulation(raw, pz);
        if (r === 1) {
          data = escaped;
          original = raw;
          escapedCases++;
          check(!/\0\0[\0-\x02]/.test('\0'.repeat(pz) + Buffer.from(escaped).toString('latin1')), () => `escapeEmulation left a start code in ${short(escaped)}`);
        } else data = escaped.length > 0 && rng.chance(0.5) ? mutate(rng, escaped) : concatBytes(escaped, new Uint8Array([rng.int(4)]));
      }
      const arg = presented(rng, data);
      const copy = hexOf(arg);
      const got = unescapeEmulation(arg, precedingZeros);
      check(hexOf(arg) === copy, () => 'unescapeEmulation modified its input');
      const want = referenceUnescape(data, precedingZeros);
      check(want === null ? got === null : got !== null && equal(got, want), () => `unescapeEmulation(${short(data)}, ${precedingZeros}) = ${got === null ? 'null' : short(got)}, reference ${want === null ? 'null' : short(want)}`);
      if (original) check(got !== null && equal(got, original), () => `did not invert escapeEmulation on ${short(original!)}`);
      if (got !== null) accepted++;
    });
    report('unescapeEmulation', { cases: done, accepted, escaped: escapedCases });
    expect(done).toBeGreaterThanOrEqual(100_000 * RUNS);
    expect(accepted).toBeGreaterThan(0.2 * done);
    expect(accepted).toBeLessThan(0.9 * done);
  });

  it('boundary: empty, 1 byte, 1 MiB', () => {
    const rng = new Rng(0xe6);
    for (const pz of [0, 1, 2]) {
      expect(unescapeEmulation(new Uint8Array(0), pz)).toEqual(new Uint8Array(0));
      for (let b = 0; b < 256; b++) expect(unescapeEmulation(new Uint8Array([b]), pz)).toEqual(referenceUnescape(new Uint8Array([b]), pz));
    }
    const mib = rng.bytes(1024 * 1024).map((b) => (b < 128 ? b & 3 : b));
    const escaped = escapeEmulation(mib, 2);
    expect(equal(unescapeEmulation(escaped, 2)!, mib)).toBe(true);
    expect(equal(unescapeEmulation(new Uint8Array(1024 * 1024).fill(0xff))!, new Uint8Array(1024 * 1024).fill(0xff))).toBe(true);
    expect(unescapeEmulation(new Uint8Array(1024 * 1024))).toBeNull();
  });
});

// ---------------------------------------------------------------------------------------------------------------
// h264ClearLength

/**
 * An independent reading: NAL units start after 00 00 01 (start codes found left to right, never overlapping the
 * previous one's header byte); the clear part ends 3 bytes into the first slice NAL (type 1 or 5), or -1.
 */
function referenceClearLength(frame: Uint8Array): number {
  const text = Buffer.from(frame.buffer, frame.byteOffset, frame.length).toString('latin1');
  for (const match of text.matchAll(/\0\0\x01([\s\S])/g)) {
    const type = match[1]!.charCodeAt(0) & 0x1f;
    if (type === 1 || type === 5) {
      const end = match.index + 3 + 3;
      return end <= frame.length ? end : -1;
    }
  }
  return -1;
}

describe('h264ClearLength', () => {
  it('agrees with a reference; is decided by the clear prefix alone (extension- and truncation-stable); never throws', { timeout: TIMEOUT }, () => {
    let found = 0;
    const done = fuzz(0x64, 100_000, 2000, (rng) => {
      const r = rng.int(4);
      let frame: Uint8Array;
      if (r === 0) frame = h264Frame(rng);
      else if (r === 1) frame = mutate(rng, h264Frame(rng));
      else if (r === 2) frame = rng.bytes(rng.int(40)).map((b) => (b < 100 ? b & 1 : b < 140 ? rng.pick([0x65, 0x41, 0x67, 0x68, 0x05, 0x01, 0x25, 0x45]) : b));
      else frame = randomBytes(rng, randomLength(rng));
      const got = h264ClearLength(presented(rng, frame));
      const want = referenceClearLength(frame);
      check(got === want, () => `h264ClearLength(${short(frame)}) = ${got}, reference ${want}`);
      if (got < 0) return;
      found++;
      check(got >= 6 && got <= frame.length, () => `clear length ${got} out of range for ${frame.length} bytes`);
      const header = got - 3;
      check(frame[header - 3] === 0 && frame[header - 2] === 0 && frame[header - 1] === 1 && [1, 5].includes(frame[header]! & 0x1f), () => `clear length ${got} does not end 3 bytes into a slice NAL`);
      // The receiver computes it on the wire frame, which shares only the clear prefix with the sender's frame.
      check(h264ClearLength(frame.subarray(0, got)) === got, () => 'not decided by the prefix');
      check(h264ClearLength(concatBytes(frame.subarray(0, got), rng.bytes(rng.int(8)))) === got, () => 'changed by what follows the clear part');
    });
    report('h264ClearLength', { cases: done, found });
    expect(done).toBeGreaterThanOrEqual(100_000 * RUNS);
    expect(found).toBeGreaterThan(0.2 * done);
  });

  it('boundary: empty, 1 byte, 1 MiB', () => {
    expect(h264ClearLength(new Uint8Array(0))).toBe(-1);
    for (let b = 0; b < 256; b++) expect(h264ClearLength(new Uint8Array([b]))).toBe(-1);
    expect(h264ClearLength(new Uint8Array(1024 * 1024))).toBe(-1);
    const mib = new Uint8Array(1024 * 1024);
    mib.set([0, 0, 1, 0x65, 1, 2], mib.length - 6);
    expect(h264ClearLength(mib)).toBe(mib.length);
    expect(h264ClearLength(mib.subarray(0, mib.length - 1))).toBe(-1);
  });
});
