/**
 * The three-message hash-commitment Diffie–Hellman of the calls spec, as two pure state machines.
 * They take server messages, user actions and a clock value, and return the messages to send and what
 * happened; no sockets, no timers. Each update is accepted once: duplicates and alternative versions are
 * ignored and counted, messages the current state does not allow are rejected with a reason, and a failed
 * check ends the call with a reason the UI can show (and a `discardCall` so the peer learns it too).
 *
 *   caller                                   callee
 *   requestCall{ g_a_hash = SHA256(g_a) } →
 *                                          ← acceptCall{ g_b }          (only after the user accepts)
 *   confirmCall{ g_a, key_fingerprint }   →  checks SHA256(g_a) = g_a_hash, g_a, fingerprint
 */

import {
  DhCheckError,
  base64ToBytes,
  bytesToBase64,
  checkDhConfig,
  checkDhPublic,
  computeSharedKey,
  constantTimeEqual,
  emojiFingerprint,
  emojiIndices,
  generateDhKeyPair,
  keyFingerprint,
  sha256,
  type CryptoBackend,
} from '@mtcall/crypto';
import type { CallEndReason, ClientMessage, ServerMessage } from './protocol.js';

/** The DH parameters from the server (messages.getDhConfig), with their version for caching. */
export interface DhConfig {
  version: number;
  p: Uint8Array;
  g: number;
}

/** What both sides hold once the key is agreed. */
export interface CallKeys {
  /** The 256-byte shared key. Wiped (zeroed) when the call ends. */
  key: Uint8Array;
  /** The caller's g_a (256 bytes), input of the emoji. */
  gA: Uint8Array;
  /** keyFingerprint(key): the low 64 bits of SHA1(key) as Telegram clients put on the wire. */
  fingerprint: bigint;
  /** The four verification emoji, the same on both sides unless someone is in the middle. */
  emoji: string[];
  /** The emoji as indices into EMOJI_TABLE. */
  emojiIndices: number[];
}

/** States of a handshake. */
export type HandshakeState =
  | 'idle' // created, nothing sent
  | 'requesting' // caller: requestCall sent, waiting for the server's callRequested
  | 'waiting' // caller: the callee's devices are ringing, waiting for acceptCall's g_b
  | 'ringing' // callee: a call is offered, waiting for the user
  | 'accepting' // callee: acceptCall sent, waiting for confirmCall's g_a
  | 'established' // key agreed
  | 'ended';

/** What a step produced besides messages. */
export type HandshakeEvent =
  | { type: 'state'; state: HandshakeState }
  | { type: 'established'; keys: CallKeys }
  | { type: 'ended'; reason: CallEndReason; detail: string; byPeer: boolean }
  | { type: 'ignored'; why: 'duplicate' | 'out-of-order' | 'other-call'; detail: string };

/** Messages to send and events, the result of every input. */
export interface HandshakeStep {
  send: ClientMessage[];
  events: HandshakeEvent[];
}

/** Deadlines, in the clock's unit (milliseconds with `Date.now()`). */
export interface HandshakeTimeouts {
  /** From requestCall (caller) or the offer (callee) until the callee accepts. */
  ringMs: number;
  /** From acceptCall until confirmCall's g_a arrives (caller: until g_b arrives is covered by ringMs). */
  confirmMs: number;
}

export const DEFAULT_HANDSHAKE_TIMEOUTS: HandshakeTimeouts = { ringMs: 45_000, confirmMs: 15_000 };

/** Counters of discarded input: what a test or a log can check. */
export interface HandshakeCounters {
  duplicates: number;
  outOfOrder: number;
  otherCall: number;
}

interface HandshakeOptions {
  dhConfig: DhConfig;
  now: number;
  timeouts?: Partial<HandshakeTimeouts>;
  backend?: CryptoBackend;
}

/** Shared bookkeeping of both sides. */
abstract class HandshakeBase {
  protected stateValue: HandshakeState = 'idle';
  protected deadline = Number.POSITIVE_INFINITY;
  protected secret: Uint8Array | undefined;
  protected keysValue: CallKeys | undefined;
  protected readonly dh: DhConfig;
  protected readonly timeouts: HandshakeTimeouts;
  protected readonly backend: CryptoBackend | undefined;
  endReasonValue: CallEndReason | undefined;
  readonly counters: HandshakeCounters = { duplicates: 0, outOfOrder: 0, otherCall: 0 };
  abstract readonly callId: string | undefined;

  constructor(options: HandshakeOptions) {
    this.dh = options.dhConfig;
    this.timeouts = { ...DEFAULT_HANDSHAKE_TIMEOUTS, ...options.timeouts };
    this.backend = options.backend;
  }

  get state(): HandshakeState {
    return this.stateValue;
  }
  /** The agreed keys, once established (until the call ends). */
  get keys(): CallKeys | undefined {
    return this.keysValue;
  }
  /** Why the call ended, once it has. */
  get endReason(): CallEndReason | undefined {
    return this.endReasonValue;
  }

  /** Advances the clock: ends the call with `'timeout'` when its deadline has passed. */
  tick(now: number): HandshakeStep {
    if (this.stateValue === 'ended' || this.stateValue === 'established' || now < this.deadline) return empty();
    return this.fail('timeout', `no answer within the deadline (state ${this.stateValue})`);
  }

  /** Ends the call from this side (hang up; the callee's decline is `decline()`). */
  hangUp(reason: CallEndReason = 'hangup'): HandshakeStep {
    if (this.stateValue === 'ended') return empty();
    return this.fail(reason, 'ended locally');
  }

  /** Ends the call from this side with `reason`, telling the peer when there is a call to discard. */
  protected fail(reason: CallEndReason, detail: string): HandshakeStep {
    const step = this.end(reason, detail, false);
    if (this.callId !== undefined) step.send.push({ type: 'discardCall', callId: this.callId, reason });
    return step;
  }

  protected end(reason: CallEndReason, detail: string, byPeer: boolean): HandshakeStep {
    if (this.stateValue === 'ended') return empty();
    this.stateValue = 'ended';
    this.endReasonValue = reason;
    this.deadline = Number.POSITIVE_INFINITY;
    this.wipe();
    return { send: [], events: [{ type: 'state', state: 'ended' }, { type: 'ended', reason, detail, byPeer }] };
  }

  /** Zeroes the DH secret and the key. Called when the call ends; idempotent. */
  protected wipe(): void {
    this.secret?.fill(0);
    this.secret = undefined;
    this.keysValue?.key.fill(0);
  }

  protected moveTo(state: HandshakeState, events: HandshakeEvent[]): void {
    this.stateValue = state;
    events.push({ type: 'state', state });
  }

  protected ignore(why: 'duplicate' | 'out-of-order' | 'other-call', detail: string): HandshakeStep {
    if (why === 'duplicate') this.counters.duplicates++;
    else if (why === 'out-of-order') this.counters.outOfOrder++;
    else this.counters.otherCall++;
    return { send: [], events: [{ type: 'ignored', why, detail }] };
  }

  protected checkConfig(): DhCheckError | undefined {
    try {
      checkDhConfig(this.dh.p, this.dh.g, this.backend);
      return undefined;
    } catch (error) {
      if (error instanceof DhCheckError) return error;
      throw error;
    }
  }

  protected established(key: Uint8Array, gA: Uint8Array, fingerprint: bigint, events: HandshakeEvent[]): void {
    this.secret?.fill(0); // forward secrecy: the exponent is not needed once the key exists
    this.secret = undefined;
    this.keysValue = { key, gA, fingerprint, emoji: emojiFingerprint(key, gA), emojiIndices: emojiIndices(key, gA) };
    this.deadline = Number.POSITIVE_INFINITY;
    this.moveTo('established', events);
    events.push({ type: 'established', keys: this.keysValue });
  }
}

function empty(): HandshakeStep {
  return { send: [], events: [] };
}

/** Options of the caller's handshake. */
export interface CallerHandshakeOptions extends HandshakeOptions {
  calleeId: string;
  video: boolean;
  /** Correlates the server's `callRequested` with this request. */
  requestId: string;
}

/** The caller's side (A). */
export class CallerHandshake extends HandshakeBase {
  readonly calleeId: string;
  readonly requestId: string;
  readonly #video: boolean;
  #callId: string | undefined;
  #gA: Uint8Array | undefined;
  #gAHash: Uint8Array | undefined;

  constructor(options: CallerHandshakeOptions) {
    super(options);
    this.calleeId = options.calleeId;
    this.requestId = options.requestId;
    this.#video = options.video;
    this.deadline = options.now + this.timeouts.ringMs;
  }

  get callId(): string | undefined {
    return this.#callId;
  }

  /** The commitment sent in requestCall (SHA256(g_a)). */
  get gAHash(): Uint8Array | undefined {
    return this.#gAHash;
  }

  /** Checks the DH config, picks a and sends `requestCall{ g_a_hash }` — never g_a itself. */
  start(): HandshakeStep {
    if (this.stateValue !== 'idle') return this.ignore('out-of-order', 'start() called twice');
    const bad = this.checkConfig();
    if (bad) return this.end('bad-dh-config', bad.message, false);
    const pair = generateDhKeyPair(this.dh.p, this.dh.g, this.backend);
    this.secret = pair.secret;
    this.#gA = pair.publicKey;
    this.#gAHash = sha256(pair.publicKey);
    const events: HandshakeEvent[] = [];
    this.moveTo('requesting', events);
    return {
      send: [{ type: 'requestCall', requestId: this.requestId, calleeId: this.calleeId, gAHash: bytesToBase64(this.#gAHash), video: this.#video }],
      events,
    };
  }

  /** Feeds a server message that concerns this call. */
  receive(message: ServerMessage): HandshakeStep {
    if (this.stateValue === 'ended') {
      if (message.type === 'callRequested' && message.requestId === this.requestId && this.#callId === undefined) {
        // Hung up before the server had created the call: discard it now that it has an id.
        this.#callId = message.callId;
        return { send: [{ type: 'discardCall', callId: message.callId, reason: this.endReasonValue ?? 'hangup' }], events: [] };
      }
      return this.ignore('duplicate', `${message.type} after the call ended`);
    }
    switch (message.type) {
      case 'callRequested': {
        if (message.requestId !== this.requestId) return this.ignore('other-call', 'callRequested for another request');
        if (this.stateValue !== 'requesting') return this.ignore('duplicate', 'second callRequested');
        this.#callId = message.callId;
        const events: HandshakeEvent[] = [];
        this.moveTo('waiting', events);
        return { send: [], events };
      }
      case 'phoneCallAccepted': {
        if (message.callId !== this.#callId) return this.ignore('other-call', 'phoneCallAccepted for another call');
        if (this.stateValue === 'established') return this.ignore('duplicate', 'phoneCallAccepted after the key was agreed');
        if (this.stateValue !== 'waiting') return this.ignore('out-of-order', `phoneCallAccepted in state ${this.stateValue}`);
        return this.#onAccepted(message.gB);
      }
      case 'phoneCallDiscarded': {
        if (message.callId !== this.#callId) return this.ignore('other-call', 'phoneCallDiscarded for another call');
        return this.end(message.reason, 'discarded by the peer or the server', true);
      }
      case 'error': {
        if (message.requestId === this.requestId && this.stateValue === 'requesting') {
          return this.end('failed', `server refused the call: ${message.code}: ${message.message}`, true);
        }
        return this.ignore('other-call', `error ${message.code}`);
      }
      default:
        return this.ignore('out-of-order', `${message.type} is not a message a caller receives`);
    }
  }

  #onAccepted(gBText: string): HandshakeStep {
    const gB = base64ToBytes(gBText);
    if (!gB || gB.length !== 256) return this.fail('bad-g-b', 'g_b is not 256 bytes');
    let key: Uint8Array;
    try {
      key = computeSharedKey(gB, this.secret!, this.dh.p, this.backend);
    } catch (error) {
      if (error instanceof DhCheckError) return this.fail('bad-g-b', error.message);
      throw error;
    }
    const fingerprint = keyFingerprint(key);
    const gA = this.#gA!;
    const events: HandshakeEvent[] = [];
    this.established(key, gA, fingerprint, events);
    return {
      send: [{ type: 'confirmCall', callId: this.#callId!, gA: bytesToBase64(gA), keyFingerprint: fingerprint.toString() }],
      events,
    };
  }
}

/** What the callee learns from `phoneCallRequested`. */
export interface IncomingCallOffer {
  callId: string;
  callerId: string;
  gAHash: Uint8Array;
  video: boolean;
}

/** Options of the callee's handshake. */
export interface CalleeHandshakeOptions extends HandshakeOptions {
  offer: IncomingCallOffer;
}

/** The callee's side (B), on one device. */
export class CalleeHandshake extends HandshakeBase {
  readonly offer: IncomingCallOffer;
  #gB: Uint8Array | undefined;

  constructor(options: CalleeHandshakeOptions) {
    super(options);
    if (options.offer.gAHash.length !== 32) throw new RangeError('gAHash must be 32 bytes');
    this.offer = { ...options.offer, gAHash: new Uint8Array(options.offer.gAHash) };
    this.stateValue = 'ringing';
    this.deadline = options.now + this.timeouts.ringMs;
  }

  get callId(): string {
    return this.offer.callId;
  }

  /** The user accepted: checks the DH config, picks b, sends `acceptCall{ g_b }`. */
  accept(now: number): HandshakeStep {
    if (this.stateValue !== 'ringing') return this.ignore('out-of-order', `accept() in state ${this.stateValue}`);
    const bad = this.checkConfig();
    if (bad) return this.fail('bad-dh-config', bad.message);
    const pair = generateDhKeyPair(this.dh.p, this.dh.g, this.backend);
    this.secret = pair.secret;
    this.#gB = pair.publicKey;
    this.deadline = now + this.timeouts.confirmMs;
    const events: HandshakeEvent[] = [];
    this.moveTo('accepting', events);
    return { send: [{ type: 'acceptCall', callId: this.callId, gB: bytesToBase64(pair.publicKey) }], events };
  }

  /** The user declined. */
  decline(): HandshakeStep {
    if (this.stateValue !== 'ringing') return this.ignore('out-of-order', `decline() in state ${this.stateValue}`);
    return this.fail('declined', 'declined locally');
  }

  /** Feeds a server message that concerns this call. */
  receive(message: ServerMessage): HandshakeStep {
    if (this.stateValue === 'ended') return this.ignore('duplicate', `${message.type} after the call ended`);
    if (!('callId' in message) || message.callId !== this.callId) return this.ignore('other-call', `${message.type} for another call`);
    switch (message.type) {
      case 'phoneCall': {
        if (this.stateValue === 'established') return this.ignore('duplicate', 'phoneCall after the key was agreed');
        if (this.stateValue !== 'accepting') return this.ignore('out-of-order', `phoneCall in state ${this.stateValue}`);
        return this.#onConfirmed(message.gA, message.keyFingerprint);
      }
      case 'phoneCallRequested':
        return this.ignore('duplicate', 'the call was already offered');
      case 'phoneCallDiscarded':
        return this.end(message.reason, 'discarded by the peer or the server', true);
      default:
        return this.ignore('out-of-order', `${message.type} is not a message a callee receives`);
    }
  }

  #onConfirmed(gAText: string, fingerprintText: string): HandshakeStep {
    const gA = base64ToBytes(gAText);
    if (!gA || gA.length !== 256) return this.fail('bad-g-a', 'g_a is not 256 bytes');
    if (!constantTimeEqual(sha256(gA), this.offer.gAHash)) {
      return this.fail('commitment-mismatch', 'SHA256(g_a) does not match the g_a_hash of requestCall');
    }
    let key: Uint8Array;
    try {
      key = computeSharedKey(gA, this.secret!, this.dh.p, this.backend);
    } catch (error) {
      if (error instanceof DhCheckError) return this.fail('bad-g-a', error.message);
      throw error;
    }
    const fingerprint = keyFingerprint(key);
    if (fingerprint.toString() !== fingerprintText) {
      key.fill(0);
      return this.fail('fingerprint-mismatch', `key fingerprint ${fingerprint} differs from the caller's ${fingerprintText}`);
    }
    const events: HandshakeEvent[] = [];
    this.established(key, gA, fingerprint, events);
    return { send: [], events };
  }
}
