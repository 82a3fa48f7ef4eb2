/**
 * `SecretChat`: one end of a Telegram secret chat as a sans-IO state machine. Inputs are method calls (bytes from
 * the server, the user's messages, the clock through `now`); outputs are queued and taken with `poll()`:
 * API calls to make (`request-encryption`, `accept-encryption`, `send-encrypted`, `discard-encryption`) and events
 * (`established`, `message`, `dropped`, `rekeyed`, `closed`, …). No I/O, no timers: `tick()` and `nextTimeout()`
 * carry time.
 *
 * What it implements, from the seed and Telegram's pages "Sequence numbers in Secret Chats" and "Perfect Forward
 * Secrecy":
 * - the two-message DH (requestEncryption with g_a; acceptEncryption with g_b and key_fingerprint, checked by the
 *   originator), every DH check of @mtcall/crypto, and a NotifyLayer as the first message of each side;
 * - seq numbers with the parity rule, duplicates dropped without looking at them, gaps queued and a Resend requested
 *   (one per hole), Resend answered immediately with the stored packets, in_seq_no checks, in-order delivery;
 * - re-keying after more than 100 messages or a week (when the key encrypted at least one message): RequestKey,
 *   AcceptKey, CommitKey, AbortKey, Noop, concurrent requests settled by exchange_id, packets under the old and the
 *   new key both opened while the switch is in flight (found by their key fingerprint), the old key wiped as soon
 *   as no message under it can still be missing;
 * - layers: the remote layer starts at 46 and only rises; a message from a newer layer than ours raises
 *   `update-required`, and a message whose constructors we do not know is delivered as `unsupported-message`
 *   (its seq number is consumed, so the chat carries on).
 */

import {
  DhCheckError,
  checkDhConfig,
  computeSharedKey,
  constantTimeEqual,
  generateDhKeyPair,
  keyFingerprint,
  randomBytes as secureRandomBytes,
  wipe,
  type DhPrime,
} from '@mtcall/crypto';
import { SecretChatError, type TlError } from './errors.js';
import { decryptSecretMessage, encryptSecretMessage, fingerprintToLong, keyFingerprintBytes, MESSAGE_DROP_REASONS } from './message.js';
import { peerRole, rawReceivedSeq, senderOffset, wireInSeqNo, wireOutSeqNo, type ChatRole } from './seq.js';
import {
  BIG_FILES_LAYER,
  INITIAL_REMOTE_LAYER,
  MIN_SECRET_CHAT_LAYER,
  SECRET_CHAT_LAYER,
  type AnyDecryptedMessage,
  type DecryptedMessage,
  type DecryptedMessageAction,
  type DecryptedMessageMedia,
  type DecryptedMessageService,
} from './tl/schema.js';
import { parseLayerEnvelope, parseMessage, serializeLayer } from './tl/serialize.js';
import { keyVisualization } from './visualization.js';

/** Why a received packet was dropped without changing the chat (each counted in `stats.dropped`). */
export const CHAT_DROP_REASONS = [
  ...MESSAGE_DROP_REASONS,
  'not-established', // arrived before the key exchange finished and the early buffer was full
  'closed', // the chat is closed
  'malformed', // decrypted and authentic, but not a decryptedMessageLayer
  'short-random-bytes', // fewer than 15 random bytes (the schema says such messages must be ignored)
  'duplicate', // a seq number already processed or already waiting in the gap queue
] as const;

/** One of `CHAT_DROP_REASONS`. */
export type ChatDropReason = (typeof CHAT_DROP_REASONS)[number];

/** Why a chat closed. All but `local` and `discarded` are protocol violations the docs say must abort the chat. */
export const CLOSE_REASONS = [
  'local', // close() was called
  'discarded', // the server reported the chat discarded (handleDiscarded)
  'dh-check-failed', // g_a or g_b failed a DH check during the key exchange
  'fingerprint-mismatch', // the accepting side's key_fingerprint differs from ours
  'seq-parity', // a seq number with the wrong parity (a reflected message) or negative
  'in-seq-no-invalid', // in_seq_no went down or acknowledges messages we never sent
  'layer-decreased', // the sender's layer went down between messages in seq order
  'resend-unsatisfiable', // a Resend asked for messages we cannot resend
  'gap-overflow', // too many messages waiting behind a gap
  'rekey-protocol-error', // a CommitKey with a wrong fingerprint, or an abort after switching keys
] as const;

/** One of `CLOSE_REASONS`. */
export type CloseReason = (typeof CLOSE_REASONS)[number];

/** Why a re-keying instance ended without a new key. */
export const REKEY_ABORT_REASONS = [
  'remote-abort', // the peer sent AbortKey
  'concurrent', // both sides requested at once; the instance with the smaller exchange_id yields
  'busy', // a RequestKey arrived while another instance was in progress
  'dh-check-failed', // the peer's g_a or g_b failed a DH check
  'fingerprint-mismatch', // AcceptKey's key_fingerprint differs from the key we computed
] as const;

/** One of `REKEY_ABORT_REASONS`. */
export type RekeyAbortReason = (typeof REKEY_ABORT_REASONS)[number];

/** Actions the application sees (the protocol's own — seq, layer, re-keying — are handled inside). */
export type ChatAction = Extract<
  DecryptedMessageAction,
  {
    _:
      | 'decryptedMessageActionSetMessageTTL'
      | 'decryptedMessageActionReadMessages'
      | 'decryptedMessageActionDeleteMessages'
      | 'decryptedMessageActionScreenshotMessages'
      | 'decryptedMessageActionFlushHistory';
  }
>;

/** Everything `poll()` returns. `request-encryption`, `accept-encryption`, `send-encrypted` and `discard-encryption` are for the server; the rest are events. */
export type SecretChatOutput =
  | { type: 'request-encryption'; gA: Uint8Array }
  | { type: 'accept-encryption'; gB: Uint8Array; keyFingerprint: bigint }
  | { type: 'discard-encryption'; reason: CloseReason }
  | { type: 'send-encrypted'; packet: Uint8Array; rawOutSeqNo: number; randomId: bigint; service: boolean; resend: boolean }
  | { type: 'established'; keyFingerprint: bigint; keyVisualization: Uint8Array }
  | { type: 'message'; message: DecryptedMessage; rawOutSeqNo: number; layer: number }
  | { type: 'action'; action: ChatAction; randomId: bigint; rawOutSeqNo: number }
  | { type: 'unsupported-message'; error: TlError; rawOutSeqNo: number; layer: number }
  | { type: 'remote-layer'; layer: number }
  | { type: 'update-required'; remoteLayer: number; localLayer: number }
  | { type: 'gap'; fromRawSeqNo: number; toRawSeqNo: number }
  | { type: 'rekey-started'; exchangeId: bigint; initiator: 'local' | 'remote' }
  | { type: 'rekeyed'; exchangeId: bigint; keyFingerprint: bigint }
  | { type: 'rekey-aborted'; exchangeId: bigint; reason: RekeyAbortReason }
  | { type: 'old-key-discarded'; keyFingerprint: bigint }
  | { type: 'dropped'; reason: ChatDropReason }
  | { type: 'closed'; reason: CloseReason };

/** The `type` of each output, defined once. */
export const OUTPUT_TYPES = [
  'request-encryption',
  'accept-encryption',
  'discard-encryption',
  'send-encrypted',
  'established',
  'message',
  'action',
  'unsupported-message',
  'remote-layer',
  'update-required',
  'gap',
  'rekey-started',
  'rekeyed',
  'rekey-aborted',
  'old-key-discarded',
  'dropped',
  'closed',
] as const satisfies readonly SecretChatOutput['type'][];

/** The DH parameters (from messages.getDhConfig); checked with `checkDhConfig` before use. */
export interface SecretChatDhConfig {
  p: DhPrime;
  g: number;
}

/** Options shared by both ways of creating a chat. */
export interface SecretChatOptions {
  dh: SecretChatDhConfig;
  /** The clock in milliseconds (injected; `Date.now` by default). */
  now?: () => number;
  /** Our layer (default `SECRET_CHAT_LAYER`). */
  layer?: number;
  /** Random bytes for random_bytes, random_id, exchange_id and padding (tests inject a seeded source). DH secrets always use the platform CSPRNG. */
  random?: (length: number) => Uint8Array;
  /** Re-key after more than this many messages under one key (default 100). */
  rekeyAfterMessages?: number;
  /** Re-key after the key has been in use this long, in ms, if it encrypted at least one message (default one week). */
  rekeyAfterMs?: number;
}

/** Counters of one chat. */
export interface SecretChatStats {
  sent: number;
  received: number;
  resent: number;
  rekeys: number;
  dropped: Record<ChatDropReason, number>;
}

/** What the user can put in a message. */
export interface OutgoingMessage {
  message: string;
  media?: DecryptedMessageMedia;
  entities?: DecryptedMessage['entities'];
  silent?: boolean;
  ttl?: number;
  viaBotName?: string;
  replyToRandomId?: bigint;
  groupedId?: bigint;
}

/** One week in ms: the age after which a used key is replaced. */
export const REKEY_AFTER_MS = 7 * 24 * 60 * 60 * 1000;
/** Messages under one key after which it is replaced. */
export const REKEY_AFTER_MESSAGES = 100;
/** Messages that may wait behind gaps; more closes the chat. */
export const MAX_PENDING_MESSAGES = 1000;
/** Largest span a Resend may ask for (as TDLib's MAX_RESEND_COUNT). */
export const MAX_RESEND_SPAN = 1000;
/** Packets kept before the key exchange completes (the originator may see the recipient's first message early). */
export const MAX_EARLY_PACKETS = 64;
/** Random bytes in every decryptedMessageLayer we send (≥ 15 required; 31 keeps the TL 4-byte aligned). */
export const RANDOM_BYTES_LENGTH = 31;
/** The fewest random bytes a received message may carry. */
export const MIN_RANDOM_BYTES = 15;

type ChatState = 'requested' | 'established' | 'closed';

interface Received {
  rawIn: number;
  rawOut: number;
  layer: number;
  fingerprint: Uint8Array;
  message: { ok: true; value: AnyDecryptedMessage } | { ok: false; error: TlError };
}

interface OutboxEntry {
  packet: Uint8Array;
  randomId: bigint;
  service: boolean;
}

type RekeyState =
  | { state: 'idle' }
  | { state: 'requested'; exchangeId: bigint; secret: Uint8Array; gA: Uint8Array }
  | { state: 'accepted'; exchangeId: bigint; key: Uint8Array; fingerprint: Uint8Array; switched: boolean };

/** One end of a secret chat. Create with `SecretChat.initiate` or `SecretChat.accept`. */
export class SecretChat {
  readonly role: ChatRole;
  readonly localLayer: number;
  #state: ChatState;
  #closeReason: CloseReason | undefined;
  readonly #dh: SecretChatDhConfig;
  readonly #now: () => number;
  readonly #random: (length: number) => Uint8Array;
  readonly #rekeyAfterMessages: number;
  readonly #rekeyAfterMs: number;
  #outputs: SecretChatOutput[] = [];

  // Handshake (originator): a until g_b arrives.
  #secret: Uint8Array | undefined;
  #early: Uint8Array[] = [];

  // Keys: the one we encrypt with, the previous one while messages under it may still be missing.
  #key: Uint8Array | undefined;
  #keyFp: Uint8Array | undefined;
  #previousKey: Uint8Array | undefined;
  #previousFp: Uint8Array | undefined;
  #visualization: Uint8Array | undefined;

  // Seq numbers (raw): messages sent, messages received in order, the peer's last in count.
  #rawOut = 0;
  #rawIn = 0;
  #hisIn = 0;
  #outbox = new Map<number, OutboxEntry>();
  #pending = new Map<number, Received>();
  #resendRequestedUpTo = -1;
  #resendHandled = new Set<number>();

  // Layers.
  #remoteLayer = INITIAL_REMOTE_LAYER;
  #lastMessageLayer = 0;
  #updateRequiredFor = 0;

  // Re-keying.
  #rekey: RekeyState = { state: 'idle' };
  #messagesUnderKey = 0;
  #sentUnderKey = 0;
  #keySince = 0;

  readonly #stats: SecretChatStats = {
    sent: 0,
    received: 0,
    resent: 0,
    rekeys: 0,
    dropped: Object.fromEntries(CHAT_DROP_REASONS.map((r) => [r, 0])) as Record<ChatDropReason, number>,
  };

  private constructor(role: ChatRole, options: SecretChatOptions) {
    this.role = role;
    this.localLayer = options.layer ?? SECRET_CHAT_LAYER;
    if (!Number.isInteger(this.localLayer) || this.localLayer < MIN_SECRET_CHAT_LAYER) {
      throw new RangeError(`layer must be an integer ≥ ${MIN_SECRET_CHAT_LAYER}`);
    }
    this.#state = role === 'originator' ? 'requested' : 'established';
    this.#dh = { p: options.dh.p, g: options.dh.g };
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? secureRandomBytes;
    this.#rekeyAfterMessages = options.rekeyAfterMessages ?? REKEY_AFTER_MESSAGES;
    this.#rekeyAfterMs = options.rekeyAfterMs ?? REKEY_AFTER_MS;
  }

  /**
   * Starts a chat (side A): checks the DH config, draws a, and queues `request-encryption` with g_a.
   *
   * @throws DhCheckError when p or g fail the checks (nothing is sent)
   * @example
   * const chat = SecretChat.initiate({ dh: { p, g } });
   * const { gA } = chat.poll() as { type: 'request-encryption'; gA: Uint8Array };
   */
  static initiate(options: SecretChatOptions): SecretChat {
    const chat = new SecretChat('originator', options);
    const pair = generateDhKeyPair(options.dh.p, options.dh.g);
    chat.#secret = pair.secret;
    chat.#emit({ type: 'request-encryption', gA: pair.publicKey });
    return chat;
  }

  /**
   * Accepts a chat (side B) from the requester's g_a: checks the config and g_a, draws b, computes the key, and
   * queues `accept-encryption` (g_b, key_fingerprint), `established` and the first message, a NotifyLayer. When g_a
   * fails a check the chat is returned closed (`discard-encryption`, `closed{dh-check-failed}`).
   *
   * @throws DhCheckError when p or g fail the checks
   */
  static accept(options: SecretChatOptions & { gA: Uint8Array }): SecretChat {
    const chat = new SecretChat('recipient', options);
    checkDhConfig(options.dh.p, options.dh.g);
    const pair = generateDhKeyPair(options.dh.p, options.dh.g);
    let key: Uint8Array;
    try {
      key = computeSharedKey(options.gA, pair.secret, options.dh.p);
    } catch (error) {
      wipe(pair.secret);
      if (!(error instanceof DhCheckError)) throw error;
      chat.#close('dh-check-failed');
      return chat;
    }
    wipe(pair.secret);
    chat.#emit({ type: 'accept-encryption', gB: pair.publicKey, keyFingerprint: keyFingerprint(key) });
    chat.#install(key);
    return chat;
  }

  /**
   * Side A: the peer accepted (updateEncryption with encryptedChat: g_b and key_fingerprint). Checks g_b, computes
   * the key, compares fingerprints; on success the chat is established, a NotifyLayer goes out and packets that
   * arrived early are processed. On failure the chat closes (`dh-check-failed` / `fingerprint-mismatch`).
   *
   * @throws SecretChatError `wrong-state` unless this is an originator waiting for the acceptance
   */
  handleAccepted(accepted: { gB: Uint8Array; keyFingerprint: bigint }): void {
    if (this.role !== 'originator' || this.#state !== 'requested' || this.#secret === undefined) {
      throw new SecretChatError('wrong-state', 'handleAccepted: this chat is not waiting for an acceptance');
    }
    let key: Uint8Array;
    try {
      key = computeSharedKey(accepted.gB, this.#secret, this.#dh.p);
    } catch (error) {
      if (!(error instanceof DhCheckError)) throw error;
      this.#close('dh-check-failed');
      return;
    } finally {
      wipe(this.#secret);
      this.#secret = undefined;
    }
    if (keyFingerprint(key) !== accepted.keyFingerprint) {
      wipe(key);
      this.#close('fingerprint-mismatch');
      return;
    }
    this.#state = 'established';
    this.#install(key);
    const early = this.#early;
    this.#early = [];
    for (const packet of early) this.receive(packet);
  }

  /** The server reported the chat discarded (by the peer or another device): closes without sending anything. */
  handleDiscarded(): void {
    if (this.#state !== 'closed') this.#close('discarded', false);
  }

  /** Closes the chat: queues `discard-encryption` and `closed{local}`, wipes every key. */
  close(): void {
    if (this.#state !== 'closed') this.#close('local');
  }

  /** Wipes keys and secrets without queuing anything (for disposal). */
  destroy(): void {
    this.#wipeAll();
    this.#state = 'closed';
    this.#closeReason ??= 'local';
  }

  /** The next output, or `undefined` when there is none. */
  poll(): SecretChatOutput | undefined {
    return this.#outputs.shift();
  }

  /** All queued outputs, in order, emptying the queue. */
  drain(): SecretChatOutput[] {
    const out = this.#outputs;
    this.#outputs = [];
    return out;
  }

  /** `'requested'` (A, waiting for B), `'established'` or `'closed'`. */
  get state(): ChatState {
    return this.#state;
  }

  /** Why the chat closed, once it has. */
  get closeReason(): CloseReason | undefined {
    return this.#closeReason;
  }

  /** The highest layer the peer is known to support. */
  get remoteLayer(): number {
    return this.#remoteLayer;
  }

  /** The layer our messages carry: min(ours, theirs), at least 73. */
  get messageLayer(): number {
    return Math.max(MIN_SECRET_CHAT_LAYER, Math.min(this.localLayer, this.#remoteLayer));
  }

  /** key_fingerprint of the key we encrypt with (a TL long), once established. */
  get keyFingerprint(): bigint | undefined {
    return this.#keyFp === undefined ? undefined : fingerprintToLong(this.#keyFp);
  }

  /** The 36 key-visualization bytes (of the original key; they never change with re-keying). */
  get keyVisualization(): Uint8Array | undefined {
    return this.#visualization?.slice();
  }

  /** The re-keying state: `'idle'`, `'requested'` (we asked) or `'accepted'` (we answered, waiting for the commit). */
  get rekeyState(): RekeyState['state'] {
    return this.#rekey.state;
  }

  /** True while a previous key is kept to open messages still missing from before a re-keying. */
  get holdsPreviousKey(): boolean {
    return this.#previousKey !== undefined;
  }

  /** Raw seq counters (messages sent, messages received in order, the peer's acknowledged count) and the gap queue size. */
  get seq(): { out: number; in: number; hisIn: number; pending: number } {
    return { out: this.#rawOut, in: this.#rawIn, hisIn: this.#hisIn, pending: this.#pending.size };
  }

  /** Counters (a copy). */
  get stats(): SecretChatStats {
    return { ...this.#stats, dropped: { ...this.#stats.dropped } };
  }

  /**
   * Sends a user message; returns its random_id. A document for a peer below layer 143 goes out as the layer-46
   * constructor.
   *
   * @throws SecretChatError `not-established` / `closed`
   */
  sendMessage(content: OutgoingMessage): bigint {
    this.#assertOpen();
    const randomId = this.#randomLong();
    let media = content.media;
    if (media?._ === 'decryptedMessageMediaDocument' && this.#remoteLayer < BIG_FILES_LAYER) media = { ...media, _: 'decryptedMessageMediaDocument46' };
    const message: DecryptedMessage = { _: 'decryptedMessage', silent: content.silent ?? false, randomId, ttl: content.ttl ?? 0, message: content.message };
    if (media !== undefined) message.media = media;
    if (content.entities !== undefined) message.entities = content.entities;
    if (content.viaBotName !== undefined) message.viaBotName = content.viaBotName;
    if (content.replyToRandomId !== undefined) message.replyToRandomId = content.replyToRandomId;
    if (content.groupedId !== undefined) message.groupedId = content.groupedId;
    this.#transmit(message);
    this.#maybeStartRekey();
    return randomId;
  }

  /**
   * Sends an application action (read/delete/screenshot receipts, TTL, history flush); returns its random_id.
   *
   * @throws SecretChatError `not-established` / `closed`
   */
  sendAction(action: ChatAction): bigint {
    this.#assertOpen();
    const randomId = this.#sendService(action);
    this.#maybeStartRekey();
    return randomId;
  }

  /** Starts re-keying now if none is in progress (it also starts by itself after 100 messages or a week). Returns whether it started. */
  startRekey(): boolean {
    this.#assertOpen();
    return this.#startRekey();
  }

  /** Lets time-based rules run (the week-old key): call when `nextTimeout()` passes. */
  tick(): void {
    if (this.#state === 'established') this.#maybeStartRekey();
  }

  /** When `tick()` should next be called (ms on the injected clock), or `undefined` when nothing is timed. */
  nextTimeout(): number | undefined {
    if (this.#state !== 'established' || this.#rekey.state !== 'idle' || this.#sentUnderKey === 0) return undefined;
    return this.#keySince + this.#rekeyAfterMs + 1;
  }

  /**
   * An encrypted message from the server (updateNewEncryptedMessage's bytes). Opens it with the current key or,
   * during a re-keying, the previous or next one (by fingerprint); checks it; and delivers it and whatever it
   * unblocks in seq order. Never throws on bad bytes: a packet that fails a check is dropped (`dropped` output and
   * `stats.dropped`), and a protocol violation closes the chat (`closed`).
   */
  receive(packet: Uint8Array): void {
    if (this.#state === 'closed') return this.#drop('closed');
    if (this.#state === 'requested') {
      if (this.#early.length >= MAX_EARLY_PACKETS || !(packet instanceof Uint8Array)) return this.#drop('not-established');
      this.#early.push(packet.slice());
      return;
    }
    const opened = decryptSecretMessage((fp) => this.#keyFor(fp), senderOffset(peerRole(this.role)), packet);
    if (!opened.ok) return this.#drop(opened.reason);
    const envelope = parseLayerEnvelope(opened.tl);
    opened.tl.fill(0);
    if (!envelope.ok) return this.#drop('malformed');
    const { randomBytes, layer, inSeqNo, outSeqNo, message } = envelope.value;
    if (randomBytes.length < MIN_RANDOM_BYTES) return this.#drop('short-random-bytes');
    const seq = rawReceivedSeq(this.role, inSeqNo, outSeqNo);
    if (seq === null) return this.#close('seq-parity');
    if (seq.rawOut < this.#rawIn || this.#pending.has(seq.rawOut)) return this.#drop('duplicate');
    this.#noteLayer(layer, true);

    // The peer used the key it accepted: it has seen our CommitKey (maybe not yet in order), so switch now.
    const rekey = this.#rekey;
    if (rekey.state === 'accepted' && !rekey.switched && constantTimeEqual(opened.keyFingerprint, rekey.fingerprint)) this.#switchToAcceptedKey(rekey);

    const received: Received = { ...seq, layer, fingerprint: opened.keyFingerprint, message };
    // Resend is interpreted on receipt, even ahead of a gap (once).
    const action = serviceAction(message);
    if (action?._ === 'decryptedMessageActionResend') {
      this.#resendHandled.add(seq.rawOut);
      if (!this.#answerResend(action.startSeqNo, action.endSeqNo)) return;
    }
    if (seq.rawOut > this.#rawIn) {
      if (this.#pending.size >= MAX_PENDING_MESSAGES) return this.#close('gap-overflow');
      this.#pending.set(seq.rawOut, received);
      this.#requestResend();
      return;
    }
    this.#process(received);
    for (let next = this.#pending.get(this.#rawIn); next !== undefined && this.#state === 'established'; next = this.#pending.get(this.#rawIn)) {
      this.#pending.delete(this.#rawIn);
      this.#process(next);
    }
    if (this.#state === 'established') {
      this.#requestResend();
      this.#maybeStartRekey();
    }
  }

  /**
   * A bare `decryptedMessageService8` (layer 8, outside any layer wrapper): the seed's way for an old client to
   * learn a NotifyLayer. Only the layer is taken from it (it carries no seq numbers, so nothing is delivered).
   * Returns false when the bytes are not such a message. Never throws.
   */
  receiveLegacyNotifyLayer(tl: Uint8Array): boolean {
    const parsed = parseMessage(tl);
    if (!parsed.ok || parsed.value._ !== 'decryptedMessageService8' || parsed.value.action._ !== 'decryptedMessageActionNotifyLayer') return false;
    if (this.#state !== 'closed') this.#noteLayer(parsed.value.action.layer, false);
    return true;
  }

  // -------------------------------------------------------------------------------------------------------------
  // Internals

  #emit(output: SecretChatOutput): void {
    this.#outputs.push(output);
  }

  #drop(reason: ChatDropReason): void {
    this.#stats.dropped[reason]++;
    this.#emit({ type: 'dropped', reason });
  }

  #assertOpen(): void {
    if (this.#state === 'closed') throw new SecretChatError('closed', `the chat is closed (${this.#closeReason ?? 'local'})`);
    if (this.#state !== 'established') throw new SecretChatError('not-established', 'the key exchange has not finished');
  }

  #randomLong(): bigint {
    const bytes = this.#random(8);
    return new DataView(bytes.buffer, bytes.byteOffset, 8).getBigInt64(0, true);
  }

  #install(key: Uint8Array): void {
    this.#key = key;
    this.#keyFp = keyFingerprintBytes(key);
    this.#visualization = keyVisualization(key);
    this.#keySince = this.#now();
    this.#emit({ type: 'established', keyFingerprint: fingerprintToLong(this.#keyFp), keyVisualization: this.#visualization.slice() });
    // The seed: notify the remote client of our layer as soon as the key is exchanged.
    this.#sendService({ _: 'decryptedMessageActionNotifyLayer', layer: this.localLayer });
  }

  #keyFor(fingerprint: Uint8Array): Uint8Array | undefined {
    if (this.#keyFp !== undefined && constantTimeEqual(fingerprint, this.#keyFp)) return this.#key;
    if (this.#previousFp !== undefined && constantTimeEqual(fingerprint, this.#previousFp)) return this.#previousKey;
    const rekey = this.#rekey;
    if (rekey.state === 'accepted' && constantTimeEqual(fingerprint, rekey.fingerprint)) return rekey.key;
    return undefined;
  }

  #sendService(action: DecryptedMessageAction): bigint {
    const randomId = this.#randomLong();
    this.#transmit({ _: 'decryptedMessageService', randomId, action });
    return randomId;
  }

  #transmit(message: DecryptedMessage | DecryptedMessageService): void {
    const key = this.#key!;
    const tl = serializeLayer({
      _: 'decryptedMessageLayer',
      randomBytes: this.#random(RANDOM_BYTES_LENGTH),
      layer: this.messageLayer,
      inSeqNo: wireInSeqNo(this.role, this.#rawIn),
      outSeqNo: wireOutSeqNo(this.role, this.#rawOut),
      message,
    });
    const padding = this.#random(1)[0]! % 16;
    const packet = encryptSecretMessage(key, senderOffset(this.role), tl, { extraPaddingBlocks: padding });
    tl.fill(0);
    const service = message._ === 'decryptedMessageService';
    const rawOutSeqNo = this.#rawOut++;
    this.#outbox.set(rawOutSeqNo, { packet, randomId: message.randomId, service });
    this.#stats.sent++;
    this.#messagesUnderKey++;
    this.#sentUnderKey++;
    this.#emit({ type: 'send-encrypted', packet, rawOutSeqNo, randomId: message.randomId, service, resend: false });
  }

  /**
   * Raises the remote layer (never lowers it). A message *wrapped* in a newer layer than ours (`fromEnvelope`) also
   * means we may not understand it: `update-required`, once per layer. A NotifyLayer above ours only records it.
   */
  #noteLayer(layer: number, fromEnvelope: boolean): void {
    if (layer >= INITIAL_REMOTE_LAYER && layer > this.#remoteLayer) {
      this.#remoteLayer = layer;
      this.#emit({ type: 'remote-layer', layer });
    }
    if (fromEnvelope && layer > this.localLayer && layer > this.#updateRequiredFor) {
      this.#updateRequiredFor = layer;
      this.#emit({ type: 'update-required', remoteLayer: layer, localLayer: this.localLayer });
    }
  }

  /** Handles one message whose seq number is the next expected. */
  #process(received: Received): void {
    if (received.rawIn < this.#hisIn || received.rawIn > this.#rawOut) return this.#close('in-seq-no-invalid');
    if (received.layer < this.#lastMessageLayer) return this.#close('layer-decreased');
    this.#lastMessageLayer = received.layer;
    this.#rawIn++;
    this.#hisIn = received.rawIn;
    for (const seq of this.#outbox.keys()) if (seq < this.#hisIn) this.#outbox.delete(seq);
    this.#stats.received++;
    this.#messagesUnderKey++;

    // A message under the current key, in order, after a re-keying we committed: nothing under the old key can
    // still be missing (the peer switched before sending it), so the old key goes.
    if (this.#previousKey !== undefined && this.#rekey.state === 'idle' && this.#keyFp !== undefined && constantTimeEqual(received.fingerprint, this.#keyFp)) {
      this.#discardPreviousKey();
    }

    if (!received.message.ok) {
      this.#emit({ type: 'unsupported-message', error: received.message.error, rawOutSeqNo: received.rawOut, layer: received.layer });
      return;
    }
    const message = received.message.value;
    if (message._ === 'decryptedMessage') {
      this.#emit({ type: 'message', message, rawOutSeqNo: received.rawOut, layer: received.layer });
      return;
    }
    const action = message.action;
    switch (action._) {
      case 'decryptedMessageActionNotifyLayer':
        this.#noteLayer(action.layer, false);
        return;
      case 'decryptedMessageActionResend':
        // Answered on receipt; when it was not (it cannot happen: every Resend passes there), answer now.
        if (!this.#resendHandled.delete(received.rawOut)) this.#answerResend(action.startSeqNo, action.endSeqNo);
        return;
      case 'decryptedMessageActionRequestKey':
        return this.#onRequestKey(action.exchangeId, action.gA);
      case 'decryptedMessageActionAcceptKey':
        return this.#onAcceptKey(action.exchangeId, action.gB, action.keyFingerprint);
      case 'decryptedMessageActionCommitKey':
        return this.#onCommitKey(action.exchangeId, action.keyFingerprint);
      case 'decryptedMessageActionAbortKey':
        return this.#onAbortKey(action.exchangeId);
      case 'decryptedMessageActionNoop':
        return;
      default:
        this.#emit({ type: 'action', action, randomId: message.randomId, rawOutSeqNo: received.rawOut });
    }
  }

  /** Asks once per hole for the messages between the last one processed and the first one waiting. */
  #requestResend(): void {
    if (this.#pending.size === 0 || this.#state !== 'established') return;
    const first = Math.min(...this.#pending.keys());
    const finish = first - 1;
    if (this.#resendRequestedUpTo >= finish) return;
    const start = Math.max(this.#rawIn, this.#resendRequestedUpTo + 1);
    this.#resendRequestedUpTo = finish;
    this.#emit({ type: 'gap', fromRawSeqNo: start, toRawSeqNo: finish });
    const sender = peerRole(this.role);
    this.#sendService({ _: 'decryptedMessageActionResend', startSeqNo: wireOutSeqNo(sender, start), endSeqNo: wireOutSeqNo(sender, finish) });
  }

  /** Resends our stored packets start..end (wire seq numbers of our messages). False when the chat had to close. */
  #answerResend(startSeqNo: number, endSeqNo: number): boolean {
    const start = Math.floor(startSeqNo / 2);
    const end = Math.floor(endSeqNo / 2);
    const valid =
      startSeqNo >= 0 &&
      wireOutSeqNo(this.role, start) === startSeqNo &&
      wireOutSeqNo(this.role, end) === endSeqNo &&
      start <= end &&
      end - start <= MAX_RESEND_SPAN &&
      end < this.#rawOut;
    if (!valid) {
      this.#close('resend-unsatisfiable');
      return false;
    }
    const entries: [number, OutboxEntry][] = [];
    for (let seq = start; seq <= end; seq++) {
      const entry = this.#outbox.get(seq);
      if (entry === undefined) {
        this.#close('resend-unsatisfiable');
        return false;
      }
      entries.push([seq, entry]);
    }
    for (const [seq, entry] of entries) {
      this.#stats.resent++;
      this.#emit({ type: 'send-encrypted', packet: entry.packet, rawOutSeqNo: seq, randomId: entry.randomId, service: entry.service, resend: true });
    }
    return true;
  }

  // ------------------------------------------------------------------------------------------------------------
  // Re-keying ("Perfect Forward Secrecy in Secret Chats")

  #maybeStartRekey(): void {
    if (this.#state !== 'established' || this.#rekey.state !== 'idle' || this.#previousKey !== undefined) return;
    const tooMany = this.#messagesUnderKey > this.#rekeyAfterMessages;
    const tooOld = this.#sentUnderKey > 0 && this.#now() - this.#keySince > this.#rekeyAfterMs;
    if (tooMany || tooOld) this.#startRekey();
  }

  #startRekey(): boolean {
    if (this.#rekey.state !== 'idle' || this.#previousKey !== undefined) return false;
    let exchangeId = this.#randomLong();
    if (exchangeId === 0n) exchangeId = 1n;
    const pair = generateDhKeyPair(this.#dh.p, this.#dh.g);
    this.#rekey = { state: 'requested', exchangeId, secret: pair.secret, gA: pair.publicKey };
    this.#emit({ type: 'rekey-started', exchangeId, initiator: 'local' });
    this.#sendService({ _: 'decryptedMessageActionRequestKey', exchangeId, gA: pair.publicKey });
    return true;
  }

  #abortRekey(exchangeId: bigint, reason: RekeyAbortReason, tellPeer: boolean): void {
    const rekey = this.#rekey;
    if (rekey.state === 'requested' && rekey.exchangeId === exchangeId) wipe(rekey.secret);
    if (rekey.state === 'accepted' && rekey.exchangeId === exchangeId) wipe(rekey.key);
    if (rekey.state !== 'idle' && rekey.exchangeId === exchangeId) this.#rekey = { state: 'idle' };
    this.#emit({ type: 'rekey-aborted', exchangeId, reason });
    if (tellPeer) this.#sendService({ _: 'decryptedMessageActionAbortKey', exchangeId });
  }

  #onRequestKey(exchangeId: bigint, gA: Uint8Array): void {
    const rekey = this.#rekey;
    if (rekey.state === 'requested') {
      // Concurrent requests: the larger exchange_id (as a signed long) wins; equal ids abort both; no AbortKey sent.
      if (rekey.exchangeId > exchangeId) return;
      const mine = rekey.exchangeId;
      this.#abortRekey(mine, 'concurrent', false);
      if (mine === exchangeId) return;
    } else if (rekey.state === 'accepted' || this.#previousKey !== undefined) {
      this.#abortRekey(exchangeId, 'busy', true);
      return;
    }
    const pair = generateDhKeyPair(this.#dh.p, this.#dh.g);
    let key: Uint8Array;
    try {
      key = computeSharedKey(gA, pair.secret, this.#dh.p);
    } catch (error) {
      wipe(pair.secret);
      if (!(error instanceof DhCheckError)) throw error;
      this.#abortRekey(exchangeId, 'dh-check-failed', true);
      return;
    }
    wipe(pair.secret);
    const fingerprint = keyFingerprintBytes(key);
    this.#rekey = { state: 'accepted', exchangeId, key, fingerprint, switched: false };
    this.#emit({ type: 'rekey-started', exchangeId, initiator: 'remote' });
    // Once AcceptKey is sent this side cannot abort: it must switch as soon as the CommitKey (or a packet under the new key) arrives.
    this.#sendService({ _: 'decryptedMessageActionAcceptKey', exchangeId, gB: pair.publicKey, keyFingerprint: fingerprintToLong(fingerprint) });
  }

  #onAcceptKey(exchangeId: bigint, gB: Uint8Array, fingerprint: bigint): void {
    const rekey = this.#rekey;
    if (rekey.state !== 'requested' || rekey.exchangeId !== exchangeId) return; // a stale instance: nothing to do
    let key: Uint8Array;
    try {
      key = computeSharedKey(gB, rekey.secret, this.#dh.p);
    } catch (error) {
      if (!(error instanceof DhCheckError)) throw error;
      this.#abortRekey(exchangeId, 'dh-check-failed', true);
      return;
    }
    if (keyFingerprint(key) !== fingerprint) {
      wipe(key);
      this.#abortRekey(exchangeId, 'fingerprint-mismatch', true);
      return;
    }
    wipe(rekey.secret);
    this.#rekey = { state: 'idle' };
    // CommitKey goes out under the old key; everything after it under the new one. The old key stays to open the
    // peer's messages sent before it saw the commit, until one under the new key is processed in order.
    this.#sendService({ _: 'decryptedMessageActionCommitKey', exchangeId, keyFingerprint: fingerprint });
    this.#previousKey = this.#key;
    this.#previousFp = this.#keyFp;
    this.#useNewKey(key, exchangeId);
  }

  #onCommitKey(exchangeId: bigint, fingerprint: bigint): void {
    const rekey = this.#rekey;
    if (rekey.state !== 'accepted' || rekey.exchangeId !== exchangeId) return; // a stale instance
    if (fingerprintToLong(rekey.fingerprint) !== fingerprint) return this.#close('rekey-protocol-error');
    if (!rekey.switched) this.#switchToAcceptedKey(rekey);
    this.#rekey = { state: 'idle' };
    this.#useNewKey(this.#key!, exchangeId);
    // Every message before the commit has been processed (it came in order), so the old key is no longer needed.
    this.#discardPreviousKey();
    // Let the initiator discard its old key too: it waits for a message under the new key.
    this.#sendService({ _: 'decryptedMessageActionNoop' });
  }

  #onAbortKey(exchangeId: bigint): void {
    const rekey = this.#rekey;
    if (rekey.state === 'idle' || rekey.exchangeId !== exchangeId) return;
    if (rekey.state === 'accepted' && rekey.switched) return this.#close('rekey-protocol-error');
    this.#abortRekey(exchangeId, 'remote-abort', false);
  }

  /** Side B: start encrypting with the key it accepted; keep the old one for messages still missing. */
  #switchToAcceptedKey(rekey: Extract<RekeyState, { state: 'accepted' }>): void {
    this.#previousKey = this.#key;
    this.#previousFp = this.#keyFp;
    this.#key = rekey.key;
    this.#keyFp = rekey.fingerprint;
    rekey.switched = true;
  }

  #useNewKey(key: Uint8Array, exchangeId: bigint): void {
    this.#key = key;
    this.#keyFp = keyFingerprintBytes(key);
    this.#messagesUnderKey = 0;
    this.#sentUnderKey = 0;
    this.#keySince = this.#now();
    this.#stats.rekeys++;
    this.#emit({ type: 'rekeyed', exchangeId, keyFingerprint: fingerprintToLong(this.#keyFp) });
  }

  #discardPreviousKey(): void {
    if (this.#previousKey === undefined) return;
    const fingerprint = fingerprintToLong(this.#previousFp!);
    wipe(this.#previousKey);
    this.#previousKey = undefined;
    this.#previousFp = undefined;
    this.#emit({ type: 'old-key-discarded', keyFingerprint: fingerprint });
  }

  #close(reason: CloseReason, tellServer = true): void {
    this.#wipeAll();
    this.#state = 'closed';
    this.#closeReason = reason;
    if (tellServer) this.#emit({ type: 'discard-encryption', reason });
    this.#emit({ type: 'closed', reason });
  }

  #wipeAll(): void {
    wipe(this.#secret, this.#key, this.#previousKey);
    const rekey = this.#rekey;
    if (rekey.state === 'requested') wipe(rekey.secret);
    if (rekey.state === 'accepted') wipe(rekey.key);
    this.#rekey = { state: 'idle' };
    this.#secret = this.#key = this.#previousKey = this.#previousFp = undefined;
    this.#outbox.clear();
    this.#pending.clear();
    this.#early = [];
  }
}

function serviceAction(message: Received['message']): DecryptedMessageAction | undefined {
  if (!message.ok) return undefined;
  const m = message.value;
  return m._ === 'decryptedMessage' ? undefined : m.action;
}
