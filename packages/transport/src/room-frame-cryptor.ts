/**
 * Frame encryption for one member of a room (group call through the SFU), sans-IO. Each frame is sealed with the
 * sender's own key for the current epoch — `roomSenderKey(group secret, room, epoch, sender)` from @mtcall/crypto,
 * used as a call key at x = 0 — so it opens only under the (epoch, sender) it was sealed for:
 *
 *   wire frame = clear ‖ E( msg_key ‖ AES-256-CTR( seq ‖ length ‖ stream ‖ frame ) ‖ epoch ‖ sender ‖ trailer )
 *
 * - `clear`, `E` and the codec rules: as in 1:1 calls (codecs/, docs/CODECS.md), so the SFU still finds key frames;
 * - `epoch` and `sender` (u32 big-endian each): which key opens the frame. Authenticated by that choice: a frame
 *   relabelled as another sender or epoch is opened with another key and fails msg_key (`auth`); a frame whose
 *   sender is not the member the SFU says sent this stream is dropped before opening (`wrong-sender`);
 * - `stream`: kind ‖ length ‖ the sender's name for the stream ('audio', 'video', 'screen'), sealed: a frame of one
 *   of the sender's streams fed to another's receiver is dropped (`wrong-stream`);
 * - `trailer`: 0xD0 | FrameFormat (1:1 calls use 0xE0 | format: a call frame never opens as a room frame).
 *
 * Seq counters: one per (epoch, sender) — the sender's sealer; replay windows: one per (epoch, sender, stream).
 * Epochs: `install` (may open), `switchTo` (seals with it from now on; the old sealer is wiped), `retire` (older
 * epochs' keys and windows wiped: their frames no longer open).
 */

import {
  PacketOpener,
  PacketSealer,
  createWebCryptoBackend,
  preferredBackend,
  roomSenderKey,
  type AsyncCryptoBackend,
  type CryptoBackend,
  type DropReason,
  type OpenResult,
  type SeqMessage,
} from '@mtcall/crypto';
import { codecRuleFor, splitWireFrame, type CodecRule } from './codecs/index.js';
import { sameBytes } from './codecs/rule.js';
import { DEFAULT_ASYNC_THRESHOLD, type MediaKind } from './frame-cryptor.js';

/** One of a sender's streams, by the name the sender gave it. */
export interface RoomStreamRef {
  kind: MediaKind;
  /** 'audio', 'video', 'screen', …: 1–16 of a-z 0-9 -. */
  source: string;
}

/** Why a received room frame was dropped. */
export type RoomFrameDropReason = DropReason | 'wrong-stream' | 'clear-mismatch' | 'wrong-sender' | 'unknown-epoch';

export const ROOM_FRAME_DROP_REASONS: readonly RoomFrameDropReason[] = ['auth', 'replay', 'malformed', 'too-old', 'wrong-stream', 'clear-mismatch', 'wrong-sender', 'unknown-epoch'];

/** Counters of a room cryptor. `openedBySender`: frames opened per sender (member number). */
export interface RoomFrameCryptorStats {
  sealed: { frames: number; bytes: number };
  opened: { frames: number; bytes: number };
  openedBySender: Record<number, number>;
  /** Frames opened per epoch: how long the previous epoch kept being used after a switch. */
  openedByEpoch: Record<number, number>;
  dropped: Record<RoomFrameDropReason, number>;
  /** The epoch this member seals with (0 before the first switch) and the epochs it can open. */
  sendingEpoch: number;
  epochs: number[];
}

export type RoomDecryptResult = { ok: true; frame: Uint8Array; epoch: number } | { ok: false; reason: RoomFrameDropReason };

export interface RoomFrameCryptorOptions {
  /**
   * The synchronous backend (default: `preferredBackend()` when the cryptor is made — Node's OpenSSL, else the
   * WebAssembly SHA-256 backend once `loadWasmBackend()` resolved, else @noble), as for calls' `FrameCryptor`.
   */
  backend?: CryptoBackend;
  /** Largest accepted wire frame (bytes); default 4 MiB. */
  maxFrameBytes?: number;
  /** The asynchronous backend (default: Web Crypto where present; `null` for none). */
  asyncBackend?: AsyncCryptoBackend | null;
  /** The frame size from which the asynchronous backend is used (default `DEFAULT_ASYNC_THRESHOLD`, as for calls). */
  asyncThreshold?: number;
}

const KIND_BYTE: Record<MediaKind, number> = { audio: 1, video: 2 };
const TRAILER_BASE = 0xd0;
const HEADER = 8;
const SOURCE = /^[a-z0-9-]{1,16}$/;

interface Epoch {
  secret: Uint8Array;
  keys: Map<number, Uint8Array>;
  openers: Map<string, PacketOpener>;
}

/** Seals this member's frames and opens the other members' frames, across epochs. */
export class RoomFrameCryptor {
  readonly roomId: string;
  readonly self: number;
  readonly #epochs = new Map<number, Epoch>();
  #sending: { epoch: number; sealer: PacketSealer } | undefined;
  readonly #backend: CryptoBackend;
  readonly #async: AsyncCryptoBackend | undefined;
  readonly #asyncThreshold: number;
  readonly #maxFrameBytes: number;
  readonly #tags = new Map<string, Uint8Array | null>();
  readonly #stats = {
    sealed: { frames: 0, bytes: 0 },
    opened: { frames: 0, bytes: 0 },
    openedBySender: {} as Record<number, number>,
    openedByEpoch: {} as Record<number, number>,
    dropped: Object.fromEntries(ROOM_FRAME_DROP_REASONS.map((r) => [r, 0])) as Record<RoomFrameDropReason, number>,
  };
  #destroyed = false;

  constructor(roomId: string, self: number, options: RoomFrameCryptorOptions = {}) {
    this.roomId = roomId;
    this.self = self;
    this.#backend = options.backend ?? preferredBackend();
    this.#maxFrameBytes = options.maxFrameBytes ?? 4 * 1024 * 1024;
    this.#async = options.asyncBackend === null ? undefined : (options.asyncBackend ?? createWebCryptoBackend());
    this.#asyncThreshold = options.asyncThreshold ?? DEFAULT_ASYNC_THRESHOLD;
  }

  /** The name of the synchronous backend in use ('wasm', 'noble', 'node'). */
  get backendName(): string {
    return this.#backend.name;
  }

  get stats(): RoomFrameCryptorStats {
    const s = this.#stats;
    return {
      sealed: { ...s.sealed }, opened: { ...s.opened }, openedBySender: { ...s.openedBySender }, openedByEpoch: { ...s.openedByEpoch }, dropped: { ...s.dropped },
      sendingEpoch: this.#sending?.epoch ?? 0, epochs: [...this.#epochs.keys()].sort((a, b) => a - b),
    };
  }

  /** The epoch this member seals with, 0 before the first switch. */
  get sendingEpoch(): number {
    return this.#sending?.epoch ?? 0;
  }

  /** Frames of `epoch` may open from now on (each sender's key is derived from `secret` when first needed). */
  install(epoch: number, secret: Uint8Array): void {
    if (this.#destroyed || this.#epochs.has(epoch)) return;
    this.#epochs.set(epoch, { secret: new Uint8Array(secret), keys: new Map(), openers: new Map() });
  }

  /** Seal with `epoch` from now on (installed before); the previous epoch's sealer is wiped. Older epochs never seal again. */
  switchTo(epoch: number): void {
    if (this.#destroyed || epoch <= (this.#sending?.epoch ?? 0)) return;
    const state = this.#epochs.get(epoch);
    if (!state) throw new RangeError(`epoch ${epoch} is not installed`);
    this.#sending?.sealer.destroy();
    this.#sending = { epoch, sealer: new PacketSealer(this.#key(epoch, state, this.self), { outgoing: true, channel: 'transport' }, { backend: this.#backend }) };
  }

  /** Forgets every epoch older than `before`: its keys and replay windows are wiped, its frames no longer open. */
  retire(before: number): void {
    for (const [epoch, state] of [...this.#epochs]) if (epoch < before && epoch !== this.#sending?.epoch) this.#wipe(epoch, state);
  }

  /** The wire bytes of one of this member's frames. Throws RangeError before the first switch or for a bad source. */
  encrypt(frame: Uint8Array, stream: RoomStreamRef, codec?: string): Uint8Array {
    const { sealer, framing } = this.#prepare(frame, stream, codec);
    return this.#assemble(framing, frame, sealer.sealMessage(framing.tag, frame));
  }

  /** `encrypt` on the asynchronous backend for frames of `asyncThreshold` bytes and more. */
  async encryptAsync(frame: Uint8Array, stream: RoomStreamRef, codec?: string): Promise<Uint8Array> {
    if (!this.#async || frame.length < this.#asyncThreshold) return this.encrypt(frame, stream, codec);
    const { sealer, framing } = this.#prepare(frame, stream, codec);
    return this.#assemble(framing, frame, await sealer.sealMessageAsync(this.#async, framing.tag, frame));
  }

  /** The frame of `sender`'s `stream` inside wire bytes, or why it was dropped. Never throws. */
  decrypt(wire: Uint8Array, stream: RoomStreamRef, sender: number): RoomDecryptResult {
    const located = this.#locate(wire, stream, sender);
    if (!located.ok) return this.#drop(located.reason);
    return this.#finish(located.opener.open(located.packet, (m) => this.#check(m, located)), located.sender, located.epoch);
  }

  async decryptAsync(wire: Uint8Array, stream: RoomStreamRef, sender: number): Promise<RoomDecryptResult> {
    if (!this.#async || wire.length < this.#asyncThreshold) return this.decrypt(wire, stream, sender);
    const located = this.#locate(wire, stream, sender);
    if (!located.ok) return this.#drop(located.reason);
    const result = await located.opener.openAsync(located.packet, this.#async, (m) => this.#check(m, located));
    return this.#finish(result, located.sender, located.epoch);
  }

  /** Wipes every key; later frames are refused. */
  destroy(): void {
    this.#destroyed = true;
    this.#sending?.sealer.destroy();
    this.#sending = undefined;
    for (const [epoch, state] of [...this.#epochs]) this.#wipe(epoch, state);
  }

  // ---- sealing -----------------------------------------------------------------------------------------------

  #prepare(frame: Uint8Array, stream: RoomStreamRef, codec: string | undefined): { sealer: PacketSealer; framing: { rule: CodecRule; clear: Uint8Array; tag: Uint8Array; epoch: number } } {
    const sending = this.#sending;
    if (!sending) throw new RangeError('no epoch to seal with yet (switchTo first)');
    const tag = this.#tag(stream);
    if (!tag) throw new RangeError(`a room stream needs a source of 1–16 of a-z 0-9 -; got ${JSON.stringify(stream.source)}`);
    const rule = stream.kind === 'video' ? codecRuleFor(codec) : codecRuleFor(undefined);
    const clear = rule.clearPart(frame);
    const framing = clear === null ? { rule: codecRuleFor(undefined), clear: new Uint8Array(0), tag, epoch: sending.epoch } : { rule, clear, tag, epoch: sending.epoch };
    return { sealer: sending.sealer, framing };
  }

  /** wire = clear ‖ E(packet ‖ epoch ‖ sender ‖ trailer). */
  #assemble({ rule, clear, epoch }: { rule: CodecRule; clear: Uint8Array; epoch: number }, frame: Uint8Array, packet: Uint8Array): Uint8Array {
    const sealed = new Uint8Array(packet.length + HEADER + 1);
    sealed.set(packet, 0);
    const view = new DataView(sealed.buffer);
    view.setUint32(packet.length, epoch, false);
    view.setUint32(packet.length + 4, this.self, false);
    sealed[packet.length + HEADER] = TRAILER_BASE | rule.format;
    const tail = rule.escape(sealed, clear);
    const wire = new Uint8Array(clear.length + tail.length);
    wire.set(clear, 0);
    wire.set(tail, clear.length);
    this.#stats.sealed.frames++;
    this.#stats.sealed.bytes += frame.length;
    return wire;
  }

  // ---- opening -----------------------------------------------------------------------------------------------

  #locate(wire: Uint8Array, stream: RoomStreamRef, expected: number):
    | { ok: true; rule: CodecRule; clear: Uint8Array; packet: Uint8Array; opener: PacketOpener; tag: Uint8Array; sender: number; epoch: number }
    | { ok: false; reason: RoomFrameDropReason } {
    if (this.#destroyed) return { ok: false, reason: 'auth' };
    const split = splitWireFrame(wire, TRAILER_BASE, this.#maxFrameBytes);
    if (!split || split.packet.length < HEADER + 17) return { ok: false, reason: 'malformed' };
    const { rule, clear, packet: tail } = split;
    const view = new DataView(tail.buffer, tail.byteOffset, tail.length);
    const epoch = view.getUint32(tail.length - HEADER, false);
    const sender = view.getUint32(tail.length - 4, false);
    if (sender !== expected || sender === this.self) return { ok: false, reason: 'wrong-sender' };
    const tag = this.#tag(stream);
    if (!tag) return { ok: false, reason: 'wrong-stream' };
    const state = this.#epochs.get(epoch);
    if (!state) return { ok: false, reason: 'unknown-epoch' };
    const id = `${sender}\u0000${stream.kind}\u0000${stream.source}`;
    let opener = state.openers.get(id);
    if (!opener) {
      opener = new PacketOpener(this.#key(epoch, state, sender), { outgoing: false, channel: 'transport' }, {
        ...({ backend: this.#backend }),
        maxPacketBytes: this.#maxFrameBytes,
      });
      state.openers.set(id, opener);
    }
    return { ok: true, rule, clear, packet: tail.subarray(0, tail.length - HEADER), opener, tag, sender, epoch };
  }

  #check(messages: readonly SeqMessage[], { rule, clear, tag }: { rule: CodecRule; clear: Uint8Array; tag: Uint8Array }): RoomFrameDropReason | undefined {
    if (messages.length !== 1) return 'malformed';
    const message = messages[0]!.data;
    if (message.length < tag.length || !sameBytes(message.subarray(0, tag.length), tag)) return 'wrong-stream';
    if (!rule.clearMatches(clear, message.subarray(tag.length))) return 'clear-mismatch';
    return undefined;
  }

  #finish(result: OpenResult<RoomFrameDropReason>, sender: number, epoch: number): RoomDecryptResult {
    if (!result.ok) return this.#drop(result.reason);
    const message = result.messages[0]!.data;
    const frame = message.subarray(2 + message[1]!);
    const s = this.#stats;
    s.opened.frames++;
    s.opened.bytes += frame.length;
    s.openedBySender[sender] = (s.openedBySender[sender] ?? 0) + 1;
    s.openedByEpoch[epoch] = (s.openedByEpoch[epoch] ?? 0) + 1;
    return { ok: true, frame, epoch };
  }

  #drop(reason: RoomFrameDropReason): RoomDecryptResult {
    this.#stats.dropped[reason]++;
    return { ok: false, reason };
  }

  #key(epoch: number, state: Epoch, sender: number): Uint8Array {
    let key = state.keys.get(sender);
    if (!key) state.keys.set(sender, (key = roomSenderKey(state.secret, this.roomId, epoch, sender)));
    return key;
  }

  #tag(stream: RoomStreamRef): Uint8Array | null {
    const id = `${stream.kind}\u0000${String(stream.source)}`;
    let tag = this.#tags.get(id);
    if (tag === undefined) {
      const kind = KIND_BYTE[stream.kind];
      const source = typeof stream.source === 'string' && SOURCE.test(stream.source) ? new TextEncoder().encode(stream.source) : null;
      tag = kind !== undefined && source ? new Uint8Array([kind, source.length, ...source]) : null;
      this.#tags.set(id, tag);
    }
    return tag;
  }

  #wipe(epoch: number, state: Epoch): void {
    state.secret.fill(0);
    for (const key of state.keys.values()) key.fill(0);
    for (const opener of state.openers.values()) opener.destroy();
    this.#epochs.delete(epoch);
  }
}
