/**
 * A man in the middle, for demonstrations and tests only (`mtcall-signal --mitm`): the server runs its own DH with
 * each side — g_a' towards the callee, g_b' towards the caller — and re-seals the in-call signaling between the
 * two keys, so the call still connects. The hash commitment forces it to pick g_b' before it sees g_a, so it gets
 * one guess at matching emoji: the two sides see different emoji (and media sealed under one key does not open
 * under the other). This is the attack the four emoji exist to expose.
 */

import {
  base64ToBytes,
  bytesToBase64,
  computeSharedKey,
  generateDhKeyPair,
  keyFingerprint,
  sha256,
  type DhKeyPair,
} from '@mtcall/crypto';
import { SecureSignalingChannel } from './secure-channel.js';
import { HONEST_EXCHANGE, type KeyExchangeInfo, type KeyExchangeRelay, type RelayStrategy } from './relay.js';

export class MitmCall {
  readonly #p: Uint8Array;
  /** Our caller-side identity towards the callee: a', g_a'. */
  readonly #towardsCallee: DhKeyPair;
  /** Our callee-side identity towards the caller: b', g_b'. */
  #towardsCaller: DhKeyPair | undefined;
  #calleeGB: Uint8Array | undefined;
  #callerSide: SecureSignalingChannel | undefined;
  #calleeSide: SecureSignalingChannel | undefined;

  constructor(dhConfig: { p: Uint8Array; g: number }) {
    this.#p = dhConfig.p;
    this.#towardsCallee = generateDhKeyPair(dhConfig.p, dhConfig.g);
    this.#g = dhConfig.g;
  }
  readonly #g: number;

  /** The g_a_hash we commit to towards the callee (instead of the caller's). */
  get gAHashForCallee(): string {
    return bytesToBase64(sha256(this.#towardsCallee.publicKey));
  }

  /** The callee accepted with g_b: answer the caller with our own g_b'. */
  onAccept(gB: string): string {
    this.#calleeGB = base64ToBytes(gB)!;
    this.#towardsCaller = generateDhKeyPair(this.#p, this.#g);
    return bytesToBase64(this.#towardsCaller.publicKey);
  }

  /** The caller revealed g_a: derive both keys; returns what to send the callee as phoneCall. */
  onConfirm(gA: string): { gA: string; keyFingerprint: string } {
    const keyWithCaller = computeSharedKey(base64ToBytes(gA)!, this.#towardsCaller!.secret, this.#p);
    const keyWithCallee = computeSharedKey(this.#calleeGB!, this.#towardsCallee.secret, this.#p);
    this.#callerSide = new SecureSignalingChannel(keyWithCaller, false);
    this.#calleeSide = new SecureSignalingChannel(keyWithCallee, true);
    const fingerprint = keyFingerprint(keyWithCallee).toString();
    keyWithCaller.fill(0);
    keyWithCallee.fill(0);
    return { gA: bytesToBase64(this.#towardsCallee.publicKey), keyFingerprint: fingerprint };
  }

  /** Re-seals in-call signaling from one side for the other; `null` when it does not open. */
  relay(data: string, fromCaller: boolean): string | null {
    const [from, to] = fromCaller ? [this.#callerSide, this.#calleeSide] : [this.#calleeSide, this.#callerSide];
    if (!from || !to) return null;
    const opened = from.open(data);
    if (!opened.ok || opened.messages.length === 0) return null;
    return to.seal(...opened.messages);
  }

  destroy(): void {
    this.#towardsCallee.secret.fill(0);
    this.#towardsCaller?.secret.fill(0);
    this.#callerSide?.destroy();
    this.#calleeSide?.destroy();
  }
}

/** Who a man-in-the-middle relay attacks: every call and room key exchange, or only those `victim` picks. */
export interface MitmRelayOptions {
  /** Attack only exchanges for which this returns true (default: all). */
  victim?: (exchange: KeyExchangeInfo) => boolean;
}

/**
 * DEMONSTRATION ONLY (`mtcall-signal --mitm`): the relay strategy of a malicious server. It runs its own DH with each
 * side of every key exchange it attacks — 1:1 calls and the pairwise exchanges of rooms alike — and re-seals the
 * in-call signaling (which carries a room's group key) between the two keys.
 */
export class MitmRelay implements RelayStrategy {
  readonly #dhConfig: { p: Uint8Array; g: number };
  readonly #victim: ((exchange: KeyExchangeInfo) => boolean) | undefined;

  constructor(dhConfig: { p: Uint8Array; g: number }, options: MitmRelayOptions = {}) {
    this.#dhConfig = dhConfig;
    this.#victim = options.victim;
  }

  get attacking(): boolean {
    return true;
  }

  exchange(info: KeyExchangeInfo): KeyExchangeRelay {
    if (this.#victim && !this.#victim(info)) return HONEST_EXCHANGE;
    const call = new MitmCall(this.#dhConfig);
    return {
      commitment: () => call.gAHashForCallee,
      accept: (gB) => call.onAccept(gB),
      confirm: (gA) => call.onConfirm(gA),
      signaling: (data, fromCaller) => call.relay(data, fromCaller),
      destroy: () => call.destroy(),
    };
  }
}
