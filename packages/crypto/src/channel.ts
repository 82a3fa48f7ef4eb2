/**
 * The x offset of the calls spec: which 32/36-byte slices of the key a packet's KDF uses. It separates
 * the two directions of a call and its two channels, so a packet can only be opened by the other side
 * of the same channel.
 */

/** The four x values, named. "Outgoing" means sealed by the caller (the party that placed the call). */
export const ChannelOffset = {
  /** Caller → callee, media transport. */
  OutgoingTransport: 0,
  /** Callee → caller, media transport. */
  IncomingTransport: 8,
  /** Caller → callee, signaling. */
  OutgoingSignaling: 128,
  /** Callee → caller, signaling. */
  IncomingSignaling: 136,
} as const;

/** One of 0, 8, 128, 136. */
export type ChannelOffset = (typeof ChannelOffset)[keyof typeof ChannelOffset];

/** The two data channels of a call: media over WebRTC, and signaling through the server. */
export type CallChannel = 'transport' | 'signaling';

/** Which side of which channel a sealer or opener belongs to. */
export interface ChannelEndpoint {
  /** True for the caller (the call is outgoing for this party), false for the callee. */
  outgoing: boolean;
  channel: CallChannel;
}

/**
 * The x to use on this endpoint: for `'send'` the one this party seals with, for `'receive'` the one the
 * peer sealed with. Sealing and opening on the same endpoint therefore always use different x.
 */
export function channelOffset(endpoint: ChannelEndpoint, direction: 'send' | 'receive'): ChannelOffset {
  const sealedByCaller = direction === 'send' ? endpoint.outgoing : !endpoint.outgoing;
  const base = endpoint.channel === 'signaling' ? 128 : 0;
  return (base + (sealedByCaller ? 0 : 8)) as ChannelOffset;
}

/** True when `x` is one of the four offsets of the spec. */
export function isChannelOffset(x: unknown): x is ChannelOffset {
  return x === 0 || x === 8 || x === 128 || x === 136;
}
