/**
 * Frame encryption for one call, both directions, sans-IO: the encoded-transform worker, the Node peer and the
 * tests all run this. Every encoded frame becomes one packet of the calls spec sealed at x = 0 (caller → callee)
 * or 8 (callee → caller):
 *
 *   wire frame = clear ‖ E( msg_key ‖ AES-256-CTR( seq ‖ length ‖ tag ‖ frame ) ‖ trailer )
 *
 * - `clear`: the codec's bytes the packetizer needs (codecs.ts), also inside the sealed frame, so authenticated;
 * - `tag`: one byte naming the stream kind (1 audio, 2 video): a video packet fed to the audio receiver is dropped;
 * - `trailer`: one byte, 0xE0 | FrameFormat, so the receiver knows the layout without codec metadata;
 * - `E`: emulation-prevention escaping for H.264, identity otherwise.
 *
 * Seqs: one counter per direction for all streams of the call (the spec's one counter per channel), so no two
 * packets of a call share a first seq; one replay window per received stream kind, so a slow video frame is not
 * judged against audio's faster-moving seqs. Empty frames (DTX) pass through untouched.
 */

import { PacketOpener, PacketSealer, createWebCryptoBackend, type AsyncCryptoBackend, type CryptoBackend, type DropReason, type OpenResult } from '@mtcall/crypto';
import { FrameFormat, escapeEmulation, frameFormatForCodec, h264ClearLength, trailingZeros, unescapeEmulation, vp8ClearLength } from './codecs.js';

export type MediaKind = 'audio' | 'video';

const TAG: Record<MediaKind, number> = { audio: 1, video: 2 };
const TRAILER_BASE = 0xe0;

/** Why a received frame was dropped. */
export type FrameDropReason = DropReason | 'wrong-stream' | 'clear-mismatch';

export const FRAME_DROP_REASONS: readonly FrameDropReason[] = ['auth', 'replay', 'malformed', 'too-old', 'wrong-stream', 'clear-mismatch'];

/** Counters of a cryptor, as the UI and the tests read them. */
export interface FrameCryptorStats {
  sealed: { frames: number; bytes: number };
  opened: { frames: number; bytes: number };
  /** Empty frames passed through untouched (both directions). */
  empty: number;
  dropped: Record<FrameDropReason, number>;
}

/** All-zero counters. */
export function emptyFrameCryptorStats(): FrameCryptorStats {
  return {
    sealed: { frames: 0, bytes: 0 },
    opened: { frames: 0, bytes: 0 },
    empty: 0,
    dropped: { auth: 0, replay: 0, malformed: 0, 'too-old': 0, 'wrong-stream': 0, 'clear-mismatch': 0 },
  };
}

export type DecryptResult = { ok: true; frame: Uint8Array } | { ok: false; reason: FrameDropReason };

export interface FrameCryptorOptions {
  backend?: CryptoBackend;
  /** Largest accepted wire frame (bytes); default 4 MiB (a 4K key frame fits). */
  maxFrameBytes?: number;
  /**
   * The asynchronous backend of `encryptAsync`/`decryptAsync` (default: Web Crypto where present; `null` for none)
   * and the frame size from which it is used (default 512 bytes: measured crossover ~450 B in a Chromium worker).
   */
  asyncBackend?: AsyncCryptoBackend | null;
  asyncThreshold?: number;
}

/** Seals outgoing frames and opens incoming ones for one call. */
export class FrameCryptor {
  readonly #sealer: PacketSealer;
  readonly #openers: Record<MediaKind, PacketOpener>;
  readonly #stats: FrameCryptorStats = emptyFrameCryptorStats();
  readonly #async: AsyncCryptoBackend | undefined;
  readonly #maxFrameBytes: number;
  readonly #asyncThreshold: number;

  /** `outgoing`: true on the caller. The key is copied into the sealers' slices; wipe your copy when you like. */
  constructor(key: Uint8Array, outgoing: boolean, options: FrameCryptorOptions = {}) {
    const endpoint = { outgoing, channel: 'transport' } as const;
    const common = options.backend ? { backend: options.backend } : {};
    const maxPacketBytes = options.maxFrameBytes ?? 4 * 1024 * 1024;
    this.#maxFrameBytes = maxPacketBytes;
    this.#sealer = new PacketSealer(key, endpoint, common);
    this.#async = options.asyncBackend === null ? undefined : (options.asyncBackend ?? createWebCryptoBackend());
    this.#asyncThreshold = options.asyncThreshold ?? 512;
    this.#openers = {
      audio: new PacketOpener(key, endpoint, { ...common, maxPacketBytes }),
      video: new PacketOpener(key, endpoint, { ...common, maxPacketBytes }),
    };
  }

  /** A snapshot of the counters. */
  get stats(): FrameCryptorStats {
    const s = this.#stats;
    return { sealed: { ...s.sealed }, opened: { ...s.opened }, empty: s.empty, dropped: { ...s.dropped } };
  }

  /**
   * The wire bytes for an encoded frame. `codec` is the MIME subtype of the frame's payload type when known
   * ('opus', 'VP8', 'H264', …); unknown codecs are sealed whole. Throws `SeqExhaustedError` at 2^30 (abort the call).
   */
  encrypt(frame: Uint8Array, kind: MediaKind, codec?: string): Uint8Array {
    if (frame.length === 0) return this.#empty(frame);
    const layout = this.#layout(frame, kind, codec);
    return this.#assemble(frame, layout, this.#sealer.sealMessage(TAG_BYTES[kind], frame));
  }

  /**
   * `encrypt` on the asynchronous backend (Web Crypto) for frames of `asyncThreshold` bytes and more, where it is
   * 2–10× faster in browsers; smaller frames take the synchronous path. The same wire bytes either way.
   */
  async encryptAsync(frame: Uint8Array, kind: MediaKind, codec?: string): Promise<Uint8Array> {
    if (!this.#async || frame.length < this.#asyncThreshold) return this.encrypt(frame, kind, codec);
    const layout = this.#layout(frame, kind, codec);
    return this.#assemble(frame, layout, await this.#sealer.sealMessageAsync(this.#async, TAG_BYTES[kind], frame));
  }

  #empty(frame: Uint8Array): Uint8Array {
    this.#stats.empty++;
    return frame;
  }

  /** The frame's format and how many of its bytes stay in the clear. */
  #layout(frame: Uint8Array, kind: MediaKind, codec?: string): { format: FrameFormat; clearLength: number } {
    let format = kind === 'video' ? frameFormatForCodec(codec) : FrameFormat.Opaque;
    let clearLength = 0;
    if (format === FrameFormat.Vp8) {
      // The receiver derives 10/3 from the P bit; a frame shorter than that (never seen in practice) goes opaque.
      clearLength = vp8ClearLength(frame);
      if (clearLength < ((frame[0]! & 1) === 0 ? 10 : 3)) {
        format = FrameFormat.Opaque;
        clearLength = 0;
      }
    } else if (format === FrameFormat.H264) {
      clearLength = h264ClearLength(frame);
      if (clearLength < 0) {
        format = FrameFormat.Opaque;
        clearLength = 0;
      }
    }
    return { format, clearLength };
  }

  /** wire = clear ‖ E(packet ‖ trailer). */
  #assemble(frame: Uint8Array, { format, clearLength }: { format: FrameFormat; clearLength: number }, packet: Uint8Array): Uint8Array {
    let tail: Uint8Array = new Uint8Array(packet.length + 1);
    tail.set(packet, 0);
    tail[packet.length] = TRAILER_BASE | format;
    if (format === FrameFormat.H264) tail = escapeEmulation(tail, trailingZeros(frame.subarray(0, clearLength)));
    const wire = new Uint8Array(clearLength + tail.length);
    wire.set(frame.subarray(0, clearLength), 0);
    wire.set(tail, clearLength);
    this.#stats.sealed.frames++;
    this.#stats.sealed.bytes += frame.length;
    return wire;
  }

  /** The frame inside wire bytes from the peer, or why it was dropped. Never throws. */
  decrypt(wire: Uint8Array, kind: MediaKind): DecryptResult {
    if (wire.length === 0) return { ok: true, frame: this.#empty(wire) };
    const located = this.#locate(wire);
    if ('reason' in located) return this.#drop(located.reason);
    const check = this.#checker(wire, kind, located);
    return this.#finish(this.#openers[kind].open(located.packet, check.accept), check);
  }

  /** `decrypt` on the asynchronous backend for wire frames of `asyncThreshold` bytes and more. Never rejects. */
  async decryptAsync(wire: Uint8Array, kind: MediaKind): Promise<DecryptResult> {
    if (!this.#async || wire.length < this.#asyncThreshold) return this.decrypt(wire, kind);
    const located = this.#locate(wire);
    if ('reason' in located) return this.#drop(located.reason);
    const check = this.#checker(wire, kind, located);
    return this.#finish(await this.#openers[kind].openAsync(located.packet, this.#async, check.accept), check);
  }

  /** Where the packet is in a wire frame, from its trailer (and its clear part). */
  #locate(wire: Uint8Array): { packet: Uint8Array; format: number; clearLength: number } | { reason: FrameDropReason } {
    if (wire.length > this.#maxFrameBytes) return { reason: 'malformed' };
    const trailer = wire[wire.length - 1]!;
    const format = trailer ^ TRAILER_BASE;
    if ((trailer & 0xf0) !== TRAILER_BASE || format > FrameFormat.H264) return { reason: 'malformed' };
    const clearLength = format === FrameFormat.Vp8 ? vp8ClearLength(wire) : format === FrameFormat.H264 ? h264ClearLength(wire) : 0;
    if (clearLength < 0 || clearLength > wire.length - 1) return { reason: 'malformed' };
    let packet: Uint8Array | null = wire.subarray(clearLength, wire.length - 1);
    if (format === FrameFormat.H264) {
      // The trailer was escaped with the packet; it is never 0..3, so it stayed the last byte.
      packet = unescapeEmulation(packet, trailingZeros(wire.subarray(0, clearLength)));
      if (packet === null) return { reason: 'malformed' };
    }
    return { packet, format, clearLength };
  }

  /**
   * The content check the opener runs before it records the seq — tag and clear bytes — so a frame with altered
   * clear bytes (or fed to the wrong stream) cannot burn the seq of the genuine one.
   */
  #checker(wire: Uint8Array, kind: MediaKind, { format, clearLength }: { format: number; clearLength: number }) {
    const check = {
      refusal: undefined as FrameDropReason | undefined,
      accept: (messages: readonly { data: Uint8Array }[]): boolean => {
        const message = messages[0]!.data;
        if (messages.length !== 1 || message.length < 1) check.refusal = 'malformed';
        else if (message[0] !== TAG[kind]) check.refusal = 'wrong-stream';
        else if (format === FrameFormat.Vp8) {
          // VP8's clear bytes reach us untouched: any difference is tampering. (H.264's may be rewritten by the
          // depacketizer; they only located the ciphertext, and the decoder gets the sealed frame either way.)
          if (message.length - 1 < clearLength) check.refusal = 'clear-mismatch';
          else for (let i = 0; i < clearLength; i++) if (message[i + 1] !== wire[i]) check.refusal = 'clear-mismatch';
        }
        return check.refusal === undefined;
      },
    };
    return check;
  }

  #finish(result: OpenResult, check: { refusal: FrameDropReason | undefined }): DecryptResult {
    if (!result.ok) return this.#drop(check.refusal ?? result.reason);
    const frame = result.messages[0]!.data.subarray(1);
    this.#stats.opened.frames++;
    this.#stats.opened.bytes += frame.length;
    return { ok: true, frame };
  }

  /** Wipes the key material; later frames are refused (encrypt throws, decrypt drops as 'auth'). */
  destroy(): void {
    this.#sealer.destroy();
    this.#openers.audio.destroy();
    this.#openers.video.destroy();
  }

  #drop(reason: FrameDropReason): DecryptResult {
    this.#stats.dropped[reason]++;
    return { ok: false, reason };
  }
}

const TAG_BYTES: Record<MediaKind, Uint8Array> = { audio: new Uint8Array([TAG.audio]), video: new Uint8Array([TAG.video]) };
