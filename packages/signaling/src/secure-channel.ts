/**
 * The encrypted in-call signaling channel: SDP offers/answers (with their DTLS fingerprints), ICE candidates,
 * media state and hang-up reasons travel through the server sealed with the call key at x = 128 (caller → callee)
 * and x = 136 (callee → caller), each direction with its own seq counter and replay window. The server relays
 * base64 it can neither read, alter nor replay. Sans-IO.
 */

import * as v from 'valibot';
import { PacketOpener, PacketSealer, base64ToBytes, bytesToBase64, type DropReason } from '@mtcall/crypto';

const sdpSchema = v.strictObject({ type: v.picklist(['offer', 'answer', 'pranswer', 'rollback']), sdp: v.pipe(v.string(), v.maxLength(24 * 1024)) });
const candidateSchema = v.nullable(
  v.object({
    candidate: v.pipe(v.string(), v.maxLength(1024)),
    sdpMid: v.optional(v.nullable(v.pipe(v.string(), v.maxLength(64)))),
    sdpMLineIndex: v.optional(v.nullable(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(1024)))),
    usernameFragment: v.optional(v.nullable(v.pipe(v.string(), v.maxLength(256)))),
  }),
);

/** Messages of the in-call signaling channel. */
export const inCallMessageSchema = v.variant('type', [
  v.strictObject({ type: v.literal('sdp'), description: sdpSchema }),
  v.strictObject({ type: v.literal('ice'), candidate: candidateSchema }),
  /** The sender's microphone and camera are on or off; `screen`: it shares its screen, in the stream `screenStreamId`. */
  v.strictObject({
    type: v.literal('media'), audio: v.boolean(), video: v.boolean(), screen: v.optional(v.boolean()),
    screenStreamId: v.optional(v.pipe(v.string(), v.maxLength(128))),
  }),
  v.strictObject({ type: v.literal('hangup'), reason: v.pipe(v.string(), v.maxLength(64)) }),
  /** The callee asks the caller to restart ICE (its media path broke; only the caller offers ICE restarts). */
  v.strictObject({ type: v.literal('restart-ice') }),
  v.strictObject({ type: v.literal('app'), data: v.unknown() }),
]);

/** A message of the in-call signaling channel. */
export type InCallMessage = v.InferOutput<typeof inCallMessageSchema>;

/** Why a received signaling packet was dropped: a crypto drop reason, or `'invalid'` for an authentic packet whose content is not a valid message. */
export type SignalingDropReason = DropReason | 'invalid';

export type SignalingOpenResult = { ok: true; messages: InCallMessage[] } | { ok: false; reason: SignalingDropReason };

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** One call's encrypted signaling channel, both directions. */
export class SecureSignalingChannel {
  readonly #sealer: PacketSealer;
  readonly #opener: PacketOpener;
  #invalid = 0;

  /** `outgoing`: true on the caller. */
  constructor(key: Uint8Array, outgoing: boolean) {
    this.#sealer = new PacketSealer(key, { outgoing, channel: 'signaling' });
    this.#opener = new PacketOpener(key, { outgoing, channel: 'signaling' });
  }

  /** Seals messages into one packet, as base64 for `signalingData.data`. Throws SeqExhaustedError at 2^30. */
  seal(...messages: InCallMessage[]): string {
    return bytesToBase64(this.#sealer.seal(messages.map((m) => encoder.encode(JSON.stringify(m)))).packet);
  }

  /** Opens a `signalingData.data` payload. Never throws; drops are counted. */
  open(data: string): SignalingOpenResult {
    const packet = base64ToBytes(data);
    const result = this.#opener.open(packet ?? new Uint8Array(0));
    if (!result.ok) return result;
    const messages: InCallMessage[] = [];
    for (const m of result.messages) {
      if (!m.fresh) continue; // a resend of something already delivered
      try {
        const parsed = v.safeParse(inCallMessageSchema, JSON.parse(decoder.decode(m.data)));
        if (!parsed.success) throw new Error('schema');
        messages.push(parsed.output);
      } catch {
        this.#invalid++;
        return { ok: false, reason: 'invalid' };
      }
    }
    return { ok: true, messages };
  }

  /** Counters of both directions. */
  get stats() {
    return { sent: this.#sealer.stats, received: this.#opener.stats, invalid: this.#invalid };
  }

  /** Wipes the key material of both directions. */
  destroy(): void {
    this.#sealer.destroy();
    this.#opener.destroy();
  }
}
