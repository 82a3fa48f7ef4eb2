/**
 * One direction of one channel of a call: the sender seals messages into packets with fresh seqs,
 * the receiver opens them, checks msg_key and the replay window, and drops anything else with a
 * counted reason. Sans-IO: bytes in, bytes out.
 */

import { defaultBackend, type CryptoBackend } from './backend/index.js';
import type { AsyncCryptoBackend } from './backend/webcrypto.js';
import { channelOffset, type ChannelEndpoint, type ChannelOffset } from './channel.js';
import { DestroyedError, SeqExhaustedError } from './errors.js';
import { framedLength, parseMessages, SEQ_LIMIT, varintLength, writeMessage, type SeqMessage } from './framing.js';
import { MSG_KEY_LENGTH, PACKET_ROOM, PacketCipher } from './packet.js';
import { ReplayWindow, type ReplayVerdict } from './replay-window.js';

const EMPTY = new Uint8Array(0);

/** Options of a sealer or opener. */
export interface PacketChannelOptions {
  /** Primitives to use; the environment's default when omitted. */
  backend?: CryptoBackend;
}

/** Options of an opener. */
export interface PacketOpenerOptions extends PacketChannelOptions {
  /** Packets longer than this are dropped as `'malformed'` before any work (default 1 MiB). */
  maxPacketBytes?: number;
}

/** Default `maxPacketBytes`: room for a large video key frame, small enough that garbage cannot cost much. */
export const DEFAULT_MAX_PACKET_BYTES = 1024 * 1024;

/** Options of a sealer. */
export interface PacketSealerOptions extends PacketChannelOptions {
  /** The first seq to hand out (default 1). Only tests and resumed sessions need another value. */
  firstSeq?: number;
}

/** A sealed packet and the seqs its messages got, in packet order. */
export interface SealedPacket {
  packet: Uint8Array;
  messages: SeqMessage[];
}

/** Counters of a sealer. */
export interface SealerStats {
  packets: number;
  messages: number;
  /** Plaintext message bytes sealed. */
  bytes: number;
}

/** Sender side of one direction of one channel. */
export class PacketSealer {
  readonly x: ChannelOffset;
  readonly #cipher: PacketCipher;
  #nextSeq: number;
  #destroyed = false;
  /** Reused for every packet's body so sealing allocates only the packet itself. Holds plaintext until overwritten; wiped by destroy(). */
  #scratch = new Uint8Array(2048);
  readonly #stats: SealerStats = { packets: 0, messages: 0, bytes: 0 };

  constructor(key: Uint8Array, endpoint: ChannelEndpoint, options: PacketSealerOptions = {}) {
    this.x = channelOffset(endpoint, 'send');
    this.#cipher = new PacketCipher(key, this.x, options.backend ?? defaultBackend);
    const first = options.firstSeq ?? 1;
    if (!Number.isSafeInteger(first) || first < 1 || first >= SEQ_LIMIT) throw new RangeError('firstSeq must be in 1..2^30-1');
    this.#nextSeq = first;
  }

  /** The seq the next new message will get. */
  get nextSeq(): number {
    return this.#nextSeq;
  }

  /** A snapshot of the counters. */
  get stats(): SealerStats {
    return { ...this.#stats };
  }

  /**
   * Seals `messages` (each taking the next seq) followed by `resend` (messages sent before, with their
   * old seqs) into one packet. When `messages` is empty an empty message with a fresh seq goes first, so
   * the packet's first seq is always new. Throws `SeqExhaustedError`, changing nothing, when a seq would
   * reach 2^30: the call must then be aborted.
   */
  seal(messages: readonly Uint8Array[], resend: readonly SeqMessage[] = []): SealedPacket {
    const fresh = messages.length > 0 ? messages : [new Uint8Array(0)];
    this.#reserve(fresh.length);
    const framed: SeqMessage[] = fresh.map((data, i) => ({ seq: this.#nextSeq + i, data }));
    for (const old of resend) {
      if (!Number.isSafeInteger(old.seq) || old.seq < 1 || old.seq >= this.#nextSeq) {
        throw new RangeError(`resend seq ${old.seq} was never handed out by this sealer`);
      }
      framed.push(old);
    }
    const room = this.#room(framedLength(framed));
    let offset = PACKET_ROOM;
    for (const m of framed) offset = writeMessage(room, offset, m.seq, m.data);
    const packet = this.#cipher.encryptInRoom(room);
    this.#commit(fresh.length, fresh);
    return { packet, messages: framed };
  }

  /**
   * Seals one message into its own packet: the media hot path. The message is the concatenation of `parts`
   * (e.g. a one-byte stream tag and a frame), written straight into the sealer's scratch without another copy.
   */
  sealMessage(...parts: Uint8Array[]): Uint8Array {
    this.#reserve(1);
    let length = 0;
    for (const part of parts) length += part.length;
    const headerLength = 4 + varintLength(length);
    const room = this.#room(headerLength + length);
    if (parts.length === 1) {
      writeMessage(room, PACKET_ROOM, this.#nextSeq, parts[0]!);
    } else {
      writeMessage(room, PACKET_ROOM, this.#nextSeq, EMPTY, length);
      let offset = PACKET_ROOM + headerLength;
      for (const part of parts) {
        room.set(part, offset);
        offset += part.length;
      }
    }
    const packet = this.#cipher.encryptInRoom(room);
    this.#nextSeq += 1;
    this.#stats.packets++;
    this.#stats.messages++;
    this.#stats.bytes += length;
    return packet;
  }

  /**
   * `sealMessage` with the body hash and the cipher on an asynchronous backend (Web Crypto in browsers, for large
   * frames). The seq is taken when called, so concurrent calls get distinct seqs in call order. Rejects with
   * `DestroyedError` when `destroy()` runs before the packet is complete (at any of its awaits): no packet ever
   * comes out of a destroyed sealer.
   */
  async sealMessageAsync(async: AsyncCryptoBackend, ...parts: Uint8Array[]): Promise<Uint8Array> {
    // An async function: everything up to the first await (taking the seq included) runs at the call, errors reject.
    this.#reserve(1);
    let length = 0;
    for (const part of parts) length += part.length;
    const headerLength = 4 + varintLength(length);
    const room = new Uint8Array(PACKET_ROOM + headerLength + length); // not the shared scratch: other seals may run meanwhile
    writeMessage(room, PACKET_ROOM, this.#nextSeq, EMPTY, length);
    let offset = PACKET_ROOM + headerLength;
    for (const part of parts) {
      room.set(part, offset);
      offset += part.length;
    }
    this.#nextSeq += 1;
    this.#stats.packets++;
    this.#stats.messages++;
    this.#stats.bytes += length;
    try {
      return await this.#cipher.encryptInRoomAsync(room, async);
    } finally {
      room.fill(0);
    }
  }

  /** Overwrites the key material; the sealer cannot be used afterwards. */
  destroy(): void {
    this.#cipher.destroy();
    this.#scratch.fill(0);
    this.#destroyed = true;
  }

  /** A view of the reusable scratch: PACKET_ROOM reserved bytes and room for a body of `bodyLength`. */
  #room(bodyLength: number): Uint8Array {
    const needed = PACKET_ROOM + bodyLength;
    if (this.#scratch.length < needed) {
      this.#scratch.fill(0);
      this.#scratch = new Uint8Array(Math.max(needed, this.#scratch.length * 2));
    }
    return this.#scratch.subarray(0, needed);
  }

  #reserve(count: number): void {
    if (this.#destroyed) throw new DestroyedError('sealer');
    if (this.#nextSeq + count - 1 >= SEQ_LIMIT) throw new SeqExhaustedError(this.#nextSeq);
  }

  #commit(count: number, data: readonly Uint8Array[]): void {
    this.#nextSeq += count;
    this.#stats.packets++;
    this.#stats.messages += count;
    for (const d of data) this.#stats.bytes += d.length;
  }
}

/** Why a received packet was dropped. */
export type DropReason = 'auth' | 'replay' | 'malformed' | 'too-old';

/** All drop reasons, for iterating counters. */
export const DROP_REASONS: readonly DropReason[] = ['auth', 'replay', 'malformed', 'too-old'];

/**
 * A message of an opened packet. `verdict` is the replay window's answer for its seq: `'ok'` the first time,
 * `'replay'` when that seq was already received, `'too-old'` when it fell behind the window (a resend that may or
 * may not have been received before — the window no longer knows). The first message is always `'ok'`.
 * `fresh` is `verdict === 'ok'`.
 */
export interface ReceivedMessage extends SeqMessage {
  fresh: boolean;
  verdict: ReplayVerdict;
}

/**
 * Result of opening a packet: its messages, or why it was dropped. `R` are the refusal reasons of the layer above's
 * content check (see `ContentCheck`).
 */
export type OpenResult<R extends string = never> =
  | { ok: true; messages: ReceivedMessage[] }
  | { ok: false; reason: DropReason | R };

/**
 * A content check of the layer above (e.g. a stream tag): it sees an authentic packet's messages before any seq is
 * recorded and returns why it refuses them, or `undefined` to accept. A refusal changes no state.
 */
export type ContentCheck<R extends string> = (messages: readonly SeqMessage[]) => R | undefined;

/** Counters of an opener. Every packet offered is counted exactly once: as opened or under one drop reason. */
export interface OpenerStats {
  opened: number;
  messages: number;
  /** Plaintext message bytes delivered. */
  bytes: number;
  dropped: Record<DropReason, number>;
}

/** Receiver side of one direction of one channel. */
export class PacketOpener {
  readonly x: ChannelOffset;
  readonly #cipher: PacketCipher;
  readonly #window = new ReplayWindow();
  #destroyed = false;
  readonly #stats: OpenerStats = { opened: 0, messages: 0, bytes: 0, dropped: { auth: 0, replay: 0, malformed: 0, 'too-old': 0 } };

  readonly #maxPacketBytes: number;

  constructor(key: Uint8Array, endpoint: ChannelEndpoint, options: PacketOpenerOptions = {}) {
    this.x = channelOffset(endpoint, 'receive');
    this.#maxPacketBytes = options.maxPacketBytes ?? DEFAULT_MAX_PACKET_BYTES;
    this.#cipher = new PacketCipher(key, this.x, options.backend ?? defaultBackend);
  }

  /** A snapshot of the counters. */
  get stats(): OpenerStats {
    return { ...this.#stats, dropped: { ...this.#stats.dropped } };
  }

  /** The largest first-message seq accepted so far. */
  get maxReceivedSeq(): number {
    return this.#window.maxReceivedSeq;
  }

  /**
   * Decrypts and checks a packet. On success records every seq it carries and returns its messages;
   * otherwise returns the drop reason, counts it, and changes no other state. Never throws on any bytes.
   * `check`, when given, sees the authentic messages before anything is recorded; a reason it returns drops the
   * packet with that reason and no state change (counted as `'malformed'` in this opener's stats).
   */
  open<R extends string = never>(packet: Uint8Array, check?: ContentCheck<R>): OpenResult<R> {
    if (!(packet instanceof Uint8Array) || packet.length < MSG_KEY_LENGTH || packet.length > this.#maxPacketBytes) return this.#drop('malformed');
    if (this.#destroyed) return this.#drop('auth');
    return this.#accept(this.#cipher.decrypt(packet), check);
  }

  /**
   * `open` with the cipher and body hash on an asynchronous backend (Web Crypto). The replay check and the
   * recording of seqs happen together after decryption, so concurrent opens stay consistent. Never rejects.
   */
  async openAsync<R extends string = never>(packet: Uint8Array, async: AsyncCryptoBackend, check?: ContentCheck<R>): Promise<OpenResult<R>> {
    if (!(packet instanceof Uint8Array) || packet.length < MSG_KEY_LENGTH || packet.length > this.#maxPacketBytes) return this.#drop('malformed');
    if (this.#destroyed) return this.#drop('auth');
    let body: Uint8Array | null;
    try {
      body = await this.#cipher.decryptAsync(packet, async);
    } catch {
      body = null;
    }
    return this.#accept(this.#destroyed ? null : body, check);
  }

  #accept<R extends string>(body: Uint8Array | null, check?: ContentCheck<R>): OpenResult<R> {
    if (body === null) return this.#drop('auth');
    const parsed = parseMessages(body);
    if (parsed === null) return this.#drop('malformed');
    const verdict = this.#window.verdict(parsed[0]!.seq);
    if (verdict !== 'ok') return this.#drop(verdict);
    const refusal = check?.(parsed);
    if (refusal !== undefined) {
      this.#stats.dropped.malformed++;
      return { ok: false, reason: refusal };
    }
    const messages: ReceivedMessage[] = parsed.map((m) => {
      const seqVerdict = this.#window.verdict(m.seq);
      if (seqVerdict === 'ok') this.#window.accept(m.seq);
      return { seq: m.seq, data: m.data, fresh: seqVerdict === 'ok', verdict: seqVerdict };
    });
    this.#stats.opened++;
    this.#stats.messages += messages.length;
    for (const m of messages) this.#stats.bytes += m.data.length;
    return { ok: true, messages };
  }

  /** Overwrites the key material; every later packet is dropped as `'auth'`. */
  destroy(): void {
    this.#cipher.destroy();
    this.#destroyed = true;
  }

  #drop(reason: DropReason): OpenResult {
    this.#stats.dropped[reason]++;
    return { ok: false, reason };
  }
}
