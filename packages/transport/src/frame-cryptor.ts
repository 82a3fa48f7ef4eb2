/**
 * Frame encryption for one call, both directions, sans-IO: the encoded-transform worker, the Node peer and the
 * tests all run this. Every encoded frame becomes one packet of the calls spec sealed at x = 0 (caller → callee)
 * or 8 (callee → caller):
 *
 *   wire frame = clear ‖ E( msg_key ‖ AES-256-CTR( seq ‖ length ‖ stream ‖ frame ) ‖ trailer )
 *
 * - `clear`: the codec's bytes the packetizer needs (codecs/), derived from the frame, so authenticated: the
 *   receiver re-derives them from the sealed frame and compares (`clear-mismatch`);
 * - `stream`: which stream the frame belongs to — its kind (1 audio, 2 video), the length of its mid and the mid
 *   (the transceiver's media id from the SDP, the same on both sides): a frame of one track fed to another track's
 *   receiver (camera ↔ screen share, audio ↔ video) is dropped (`wrong-stream`);
 * - `trailer`: one byte, 0xE0 | FrameFormat, so the receiver knows the layout without codec metadata;
 * - `E`: the codec's escaping of the sealed part (H.264: emulation prevention), identity otherwise.
 *
 * Seqs: one counter per direction for all streams of the call (the spec's one counter per channel), so no two
 * packets of a call share a first seq; one replay window per received stream, so a slow video frame is not judged
 * against audio's (or another video track's) faster-moving seqs. Empty frames (DTX) are sealed like any other.
 */

import type { CallRole } from '@mtcall/common';
import {
  PacketOpener,
  PacketSealer,
  createWebCryptoBackend,
  preferredBackend,
  type AsyncCryptoBackend,
  type CryptoBackend,
  type DropReason,
  type OpenResult,
  type SeqMessage,
} from '@mtcall/crypto';
import { codecRuleFor, splitWireFrame, type CodecRule } from './codecs/index.js';
import { sameBytes } from './codecs/rule.js';

export type MediaKind = 'audio' | 'video';

/** One media stream of the call: what the stream tag binds every frame to. */
export interface MediaStreamRef {
  kind: MediaKind;
  /** The transceiver's mid (RTCRtpTransceiver.mid, negotiated in the SDP): 1–255 bytes of UTF-8. */
  mid: string;
}

const KIND_BYTE: Record<MediaKind, number> = { audio: 1, video: 2 };
const TRAILER_BASE = 0xe0;

/** Why a received frame was dropped. */
export type FrameDropReason = DropReason | 'wrong-stream' | 'clear-mismatch';

export const FRAME_DROP_REASONS: readonly FrameDropReason[] = ['auth', 'replay', 'malformed', 'too-old', 'wrong-stream', 'clear-mismatch'];

/**
 * The frame size (bytes) from which `encryptAsync`/`decryptAsync` use the asynchronous backend (Web Crypto): with the
 * WebAssembly SHA-256 the synchronous path is as fast up to ~2–4 KB in a Chromium worker, and a frame on it waits on
 * no await (docs/PERFORMANCE.md). Calls and rooms share it.
 */
export const DEFAULT_ASYNC_THRESHOLD = 2048;

/** Counters of a cryptor, as the UI and the tests read them. */
export interface FrameCryptorStats {
  sealed: { frames: number; bytes: number };
  opened: { frames: number; bytes: number };
  /** Empty (DTX) frames among those sealed and opened: they are sealed like any other frame. */
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
  /**
   * The synchronous backend (default: `preferredBackend()` when the cryptor is made — Node's OpenSSL, else the
   * WebAssembly SHA-256 backend once `loadWasmBackend()` resolved, else @noble).
   */
  backend?: CryptoBackend;
  /** Largest accepted wire frame (bytes); default 4 MiB (a 4K key frame fits). */
  maxFrameBytes?: number;
  /**
   * The asynchronous backend of `encryptAsync`/`decryptAsync` (default: Web Crypto where present; `null` for none)
   * and the frame size from which it is used (default `DEFAULT_ASYNC_THRESHOLD`).
   */
  asyncBackend?: AsyncCryptoBackend | null;
  asyncThreshold?: number;
  /**
   * TEST ONLY: the first seq to seal with (default 1), to reach the 2^30 limit in a test. The product never sets it
   * (the encryption worker passes it only when a test worker entry asks: see `@mtcall/transport/testing`).
   */
  firstSeq?: number;
}

/** A frame about to be sealed: its codec rule, its clear part and its stream tag. */
interface Framing {
  rule: CodecRule;
  clear: Uint8Array;
  tag: Uint8Array;
}

/** Where the sealed packet is in a received wire frame. */
interface Located {
  rule: CodecRule;
  clear: Uint8Array;
  packet: Uint8Array;
}

/** Seals outgoing frames and opens incoming ones for one call. */
export class FrameCryptor {
  readonly #sealer: PacketSealer;
  /** Our copy of the key, for the replay windows of streams seen later; wiped by destroy(). */
  readonly #key: Uint8Array;
  readonly #outgoing: boolean;
  readonly #backend: CryptoBackend;
  readonly #openers = new Map<string, PacketOpener>();
  readonly #tags = new Map<string, Uint8Array | null>();
  readonly #stats: FrameCryptorStats = emptyFrameCryptorStats();
  readonly #async: AsyncCryptoBackend | undefined;
  readonly #maxFrameBytes: number;
  readonly #asyncThreshold: number;
  #destroyed = false;

  /** `role`: this side of the call (the caller seals with x = 0). The key is copied; wipe your copy when you like. */
  constructor(key: Uint8Array, role: CallRole, options: FrameCryptorOptions = {}) {
    const outgoing = role === 'caller';
    this.#key = new Uint8Array(key);
    this.#outgoing = outgoing;
    this.#backend = options.backend ?? preferredBackend();
    this.#maxFrameBytes = options.maxFrameBytes ?? 4 * 1024 * 1024;
    this.#sealer = new PacketSealer(key, { outgoing, channel: 'transport' }, {
      backend: this.#backend,
      ...(options.firstSeq !== undefined ? { firstSeq: options.firstSeq } : {}),
    });
    this.#async = options.asyncBackend === null ? undefined : (options.asyncBackend ?? createWebCryptoBackend());
    this.#asyncThreshold = options.asyncThreshold ?? DEFAULT_ASYNC_THRESHOLD;
  }

  /** The name of the synchronous backend in use ('wasm', 'noble', 'node'). */
  get backendName(): string {
    return this.#backend.name;
  }

  /** A snapshot of the counters. */
  get stats(): FrameCryptorStats {
    const s = this.#stats;
    return { sealed: { ...s.sealed }, opened: { ...s.opened }, empty: s.empty, dropped: { ...s.dropped } };
  }

  /**
   * The wire bytes for an encoded frame of `stream`. `codec` is the MIME subtype of the frame's payload type when
   * known ('opus', 'VP8', 'H264', …); unknown codecs are sealed whole. Throws `SeqExhaustedError` at 2^30 (abort the
   * call), `DestroyedError` after `destroy()`, `RangeError` for a stream without a valid mid.
   */
  encrypt(frame: Uint8Array, stream: MediaStreamRef, codec?: string): Uint8Array {
    const framing = this.#framing(frame, stream, codec);
    return this.#assemble(framing, frame, this.#sealer.sealMessage(framing.tag, frame));
  }

  /**
   * `encrypt` on the asynchronous backend (Web Crypto) for frames of `asyncThreshold` bytes and more, where it is
   * 2–10× faster in browsers; smaller frames take the synchronous path. The same wire bytes either way. Rejects with
   * `DestroyedError` when `destroy()` runs before the frame is sealed: no frame comes out after the end.
   */
  async encryptAsync(frame: Uint8Array, stream: MediaStreamRef, codec?: string): Promise<Uint8Array> {
    if (!this.#async || frame.length < this.#asyncThreshold) return this.encrypt(frame, stream, codec);
    const framing = this.#framing(frame, stream, codec);
    return this.#assemble(framing, frame, await this.#sealer.sealMessageAsync(this.#async, framing.tag, frame));
  }

  /** The frame inside wire bytes from the peer's `stream`, or why it was dropped. Never throws. */
  decrypt(wire: Uint8Array, stream: MediaStreamRef): DecryptResult {
    const located = this.#locate(wire);
    const tag = this.#tag(stream);
    if (!located.ok) return this.#drop(located.reason);
    if (!tag) return this.#drop('wrong-stream');
    return this.#finish(this.#opener(stream).open(located.packet, (m) => this.#check(m, tag, located)));
  }

  /** `decrypt` on the asynchronous backend for wire frames of `asyncThreshold` bytes and more. Never rejects. */
  async decryptAsync(wire: Uint8Array, stream: MediaStreamRef): Promise<DecryptResult> {
    if (!this.#async || wire.length < this.#asyncThreshold) return this.decrypt(wire, stream);
    const located = this.#locate(wire);
    const tag = this.#tag(stream);
    if (!located.ok) return this.#drop(located.reason);
    if (!tag) return this.#drop('wrong-stream');
    return this.#finish(await this.#opener(stream).openAsync(located.packet, this.#async, (m) => this.#check(m, tag, located)));
  }

  /** Wipes the key material; later frames are refused (encrypt throws `DestroyedError`, decrypt drops as 'auth'). */
  destroy(): void {
    this.#destroyed = true;
    this.#sealer.destroy();
    for (const opener of this.#openers.values()) opener.destroy();
    this.#key.fill(0);
  }

  // ---- sealing: one framing helper for the synchronous and the asynchronous path ----------------------------

  /** The codec rule, clear part and stream tag of a frame to seal. */
  #framing(frame: Uint8Array, stream: MediaStreamRef, codec: string | undefined): Framing {
    const tag = this.#tag(stream);
    if (!tag) throw new RangeError(`a media stream needs a mid of 1–255 bytes; got ${JSON.stringify(stream.mid)}`);
    const rule = stream.kind === 'video' ? codecRuleFor(codec) : codecRuleFor(undefined);
    const clear = rule.clearPart(frame);
    if (clear === null) return { rule: codecRuleFor(undefined), clear: new Uint8Array(0), tag };
    return { rule, clear, tag };
  }

  /** wire = clear ‖ E(packet ‖ trailer). */
  #assemble({ rule, clear }: Framing, frame: Uint8Array, packet: Uint8Array): Uint8Array {
    const sealed = new Uint8Array(packet.length + 1);
    sealed.set(packet, 0);
    sealed[packet.length] = TRAILER_BASE | rule.format;
    const tail = rule.escape(sealed, clear);
    const wire = new Uint8Array(clear.length + tail.length);
    wire.set(clear, 0);
    wire.set(tail, clear.length);
    this.#stats.sealed.frames++;
    this.#stats.sealed.bytes += frame.length;
    if (frame.length === 0) this.#stats.empty++;
    return wire;
  }

  // ---- opening -------------------------------------------------------------------------------------------------

  /** Where the packet is in a wire frame, from its trailer (and its clear part). */
  #locate(wire: Uint8Array): ({ ok: true } & Located) | { ok: false; reason: FrameDropReason } {
    const split = splitWireFrame(wire, TRAILER_BASE, this.#maxFrameBytes);
    return split ? { ok: true, ...split } : { ok: false, reason: 'malformed' };
  }

  /**
   * The content check the opener runs before it records the seq — stream tag, then clear bytes — so a frame fed to
   * the wrong stream or with altered clear bytes cannot burn the seq of the genuine one. Returns the drop reason.
   */
  #check(messages: readonly SeqMessage[], tag: Uint8Array, { rule, clear }: Located): FrameDropReason | undefined {
    const message = messages[0]!.data;
    if (messages.length !== 1) return 'malformed';
    if (message.length < tag.length || !sameBytes(message.subarray(0, tag.length), tag)) return 'wrong-stream';
    if (!rule.clearMatches(clear, message.subarray(tag.length))) return 'clear-mismatch';
    return undefined;
  }

  #finish(result: OpenResult<FrameDropReason>): DecryptResult {
    if (!result.ok) return this.#drop(result.reason);
    const message = result.messages[0]!.data;
    const frame = message.subarray(2 + message[1]!); // after the stream tag (kind, mid length, mid)
    this.#stats.opened.frames++;
    this.#stats.opened.bytes += frame.length;
    if (frame.length === 0) this.#stats.empty++;
    return { ok: true, frame };
  }

  #drop(reason: FrameDropReason): DecryptResult {
    this.#stats.dropped[reason]++;
    return { ok: false, reason };
  }

  // ---- streams -------------------------------------------------------------------------------------------------

  /** The stream tag `kind ‖ mid length ‖ mid`, or null when the mid is not 1–255 bytes. */
  #tag(stream: MediaStreamRef): Uint8Array | null {
    const id = streamKey(stream);
    let tag = this.#tags.get(id);
    if (tag === undefined) {
      const mid = typeof stream.mid === 'string' ? new TextEncoder().encode(stream.mid) : new Uint8Array(0);
      const kind = KIND_BYTE[stream.kind];
      tag = kind !== undefined && mid.length >= 1 && mid.length <= 255 ? new Uint8Array([kind, mid.length, ...mid]) : null;
      this.#tags.set(id, tag);
    }
    return tag;
  }

  /** The replay window (and cipher) of a received stream, made when the stream's first frame arrives. */
  #opener(stream: MediaStreamRef): PacketOpener {
    const id = streamKey(stream);
    let opener = this.#openers.get(id);
    if (!opener) {
      opener = new PacketOpener(this.#key, { outgoing: this.#outgoing, channel: 'transport' }, {
        backend: this.#backend,
        maxPacketBytes: this.#maxFrameBytes,
      });
      if (this.#destroyed) opener.destroy();
      this.#openers.set(id, opener);
    }
    return opener;
  }
}

function streamKey(stream: MediaStreamRef): string {
  return `${stream.kind}\u0000${String(stream.mid)}`;
}

