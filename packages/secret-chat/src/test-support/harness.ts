/** Test helpers: two real SecretChats joined by a scriptable "server", and a scripted peer that knows the key. */
import { TELEGRAM_DH_GROUP, computeSharedKey, generateDhKeyPair, keyFingerprint } from '@mtcall/crypto';
import { SecretChat, type SecretChatOptions, type SecretChatOutput } from '../chat.js';
import { decryptSecretMessage, encryptSecretMessage } from '../message.js';
import { senderOffset, wireInSeqNo, wireOutSeqNo, type ChatRole } from '../seq.js';
import { SECRET_CHAT_LAYER, type AnyDecryptedMessage, type DecryptedMessageAction, type DecryptedMessageLayer } from '../tl/schema.js';
import { parseLayer, serializeLayer } from '../tl/serialize.js';

export const DH = { p: TELEGRAM_DH_GROUP.p, g: TELEGRAM_DH_GROUP.g };

/** A manual clock in ms. */
export class Clock {
  t = 1_700_000_000_000;
  readonly now = (): number => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
}

type Sent = Extract<SecretChatOutput, { type: 'send-encrypted' }>;

/** One side's outputs, split: packets for the server, and everything else. */
export class Side {
  readonly events: SecretChatOutput[] = [];
  readonly wire: Sent[] = [];
  constructor(readonly chat: SecretChat) {}
  /** Drains the chat's outputs into `events` and `wire`; returns the new packets. */
  collect(): Sent[] {
    const fresh: Sent[] = [];
    for (const o of this.chat.drain()) {
      this.events.push(o);
      if (o.type === 'send-encrypted') fresh.push(o);
    }
    this.wire.push(...fresh);
    return fresh;
  }
  /** Events of one type seen so far. */
  of<T extends SecretChatOutput['type']>(type: T): Extract<SecretChatOutput, { type: T }>[] {
    this.collect();
    return this.events.filter((e): e is Extract<SecretChatOutput, { type: T }> => e.type === type);
  }
  #cursor = 0;
  /** Packets not taken yet (by `take` or `settle`), marking them taken. */
  take(): Sent[] {
    this.collect();
    const out = this.wire.slice(this.#cursor);
    this.#cursor = this.wire.length;
    return out;
  }
  texts(): string[] {
    return this.of('message').map((m) => m.message.message);
  }
}

/** Alice (originator) and Bob (recipient), established, first packets (the NotifyLayers) not yet delivered. */
export function pair(options: { alice?: Partial<SecretChatOptions>; bob?: Partial<SecretChatOptions>; clock?: Clock } = {}) {
  const clock = options.clock ?? new Clock();
  const alice = SecretChat.initiate({ dh: DH, now: clock.now, ...options.alice });
  const request = alice.drain();
  const gA = (request[0] as Extract<SecretChatOutput, { type: 'request-encryption' }>).gA;
  const bob = SecretChat.accept({ dh: DH, now: clock.now, gA, ...options.bob });
  const a = new Side(alice);
  const b = new Side(bob);
  a.events.push(...request);
  b.collect();
  const accepted = b.events.find((e) => e.type === 'accept-encryption') as Extract<SecretChatOutput, { type: 'accept-encryption' }>;
  alice.handleAccepted({ gB: accepted.gB, keyFingerprint: accepted.keyFingerprint });
  a.collect();
  return { alice: a, bob: b, clock };
}

/** Delivers packets to a side (in the order given) and collects its outputs. */
export function deliver(to: Side, packets: readonly Sent[]): void {
  for (const p of packets) to.chat.receive(p.packet);
  to.collect();
}

/** Runs both sides until no new packets flow, delivering every packet not yet taken, in order. */
export function settle(a: Side, b: Side): void {
  for (let rounds = 0; rounds < 1000; rounds++) {
    const fromA = a.take();
    const fromB = b.take();
    if (fromA.length === 0 && fromB.length === 0) return;
    deliver(b, fromA);
    deliver(a, fromB);
  }
  throw new Error('settle: the sides never went quiet');
}

/**
 * A peer scripted by the test: it knows the key (it ran the DH itself) and writes any message with any seq
 * numbers, layer or random bytes. `chat` is the real SecretChat on the other side.
 */
export class ScriptedPeer {
  rawOut = 0;
  rawIn = 0;
  private constructor(
    readonly role: ChatRole,
    public key: Uint8Array,
    readonly side: Side,
  ) {}

  /** The test plays the originator; the real chat is the recipient. */
  static asOriginator(options: Partial<SecretChatOptions> = {}): ScriptedPeer {
    const pairA = generateDhKeyPair(DH.p, DH.g);
    const chat = SecretChat.accept({ dh: DH, gA: pairA.publicKey, ...options });
    const side = new Side(chat);
    side.collect();
    const accepted = side.events.find((e) => e.type === 'accept-encryption') as Extract<SecretChatOutput, { type: 'accept-encryption' }>;
    return new ScriptedPeer('originator', computeSharedKey(accepted.gB, pairA.secret, DH.p), side);
  }

  /** The test plays the recipient; the real chat is the originator. */
  static asRecipient(options: Partial<SecretChatOptions> = {}): ScriptedPeer {
    const chat = SecretChat.initiate({ dh: DH, ...options });
    const side = new Side(chat);
    side.collect();
    const gA = (side.events[0] as Extract<SecretChatOutput, { type: 'request-encryption' }>).gA;
    const pairB = generateDhKeyPair(DH.p, DH.g);
    const key = computeSharedKey(gA, pairB.secret, DH.p);
    chat.handleAccepted({ gB: pairB.publicKey, keyFingerprint: keyFingerprint(key) });
    side.collect();
    return new ScriptedPeer('recipient', key, side);
  }

  /** Encrypts a layer message; seq numbers default to the peer's running counters (which advance). */
  packet(message: AnyDecryptedMessage, over: Partial<Omit<DecryptedMessageLayer, '_' | 'message'>> & { rawOut?: number; tl?: Uint8Array } = {}): Uint8Array {
    const rawOut = over.rawOut ?? this.rawOut++;
    const layer: DecryptedMessageLayer = {
      _: 'decryptedMessageLayer',
      randomBytes: over.randomBytes ?? new Uint8Array(16).fill(7),
      layer: over.layer ?? SECRET_CHAT_LAYER,
      inSeqNo: over.inSeqNo ?? wireInSeqNo(this.role, this.rawIn),
      outSeqNo: over.outSeqNo ?? wireOutSeqNo(this.role, rawOut),
      message,
    };
    return encryptSecretMessage(this.key, senderOffset(this.role), over.tl ?? serializeLayer(layer));
  }

  text(text: string, over: Parameters<ScriptedPeer['packet']>[1] = {}): Uint8Array {
    return this.packet({ _: 'decryptedMessage', silent: false, randomId: BigInt(this.rawOut + 1000), ttl: 0, message: text }, over);
  }

  service(action: DecryptedMessageAction, over: Parameters<ScriptedPeer['packet']>[1] = {}): Uint8Array {
    return this.packet({ _: 'decryptedMessageService', randomId: BigInt(this.rawOut + 5000), action }, over);
  }

  /** Sends to the real chat and collects its outputs. */
  send(packet: Uint8Array): void {
    this.side.chat.receive(packet);
    this.side.collect();
  }

  /** Opens what the real chat sent (with `key`, or another), counting it as received in order. */
  open(packet: Uint8Array, key: Uint8Array = this.key): DecryptedMessageLayer {
    const other: ChatRole = this.role === 'originator' ? 'recipient' : 'originator';
    const opened = decryptSecretMessage(key, senderOffset(other), packet);
    if (!opened.ok) throw new Error(`scripted peer cannot open: ${opened.reason}`);
    const parsed = parseLayer(opened.tl);
    if (!parsed.ok) throw new Error(`scripted peer cannot parse: ${parsed.error.message}`);
    this.rawIn++;
    return parsed.value;
  }
}
