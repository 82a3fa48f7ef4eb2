/**
 * How the server relays the key-agreement messages and the sealed in-call signaling of a key exchange (a 1:1 call,
 * or the pairwise exchange of a room's distributor with one member). An honest server passes them through; the
 * man-in-the-middle demonstration (`mitm.ts`, `--mitm`) is another strategy, so the routing code has no
 * `mitm ? … : …` branches.
 */

/** What the relay learns when an exchange starts. */
export interface KeyExchangeInfo {
  callId: string;
  callerId: string;
  calleeId: string;
  /** Set for a room's pairwise exchange. */
  room?: { roomId: string; callerMemberId: number; calleeMemberId: number };
}

/** The relay of one key exchange: what to pass on for each message (base64 fields, as on the wire). */
export interface KeyExchangeRelay {
  /** The `gAHash` the callee gets in `phoneCallRequested`, given the caller's. */
  commitment(gAHash: string): string;
  /** The `gB` the caller gets in `phoneCallAccepted`, given the callee's. */
  accept(gB: string): string;
  /** What the callee gets in `phoneCall`, given the caller's `confirmCall`. */
  confirm(gA: string, keyFingerprint: string): { gA: string; keyFingerprint: string };
  /** Sealed in-call signaling from one side for the other; `null` drops it. */
  signaling(data: string, fromCaller: boolean): string | null;
  /** The exchange ended: wipe what it holds. */
  destroy(): void;
}

/** A relay strategy: one `KeyExchangeRelay` per exchange. */
export interface RelayStrategy {
  /** Whether this strategy attacks calls (the CLI warns; logs say so). */
  readonly attacking: boolean;
  exchange(info: KeyExchangeInfo): KeyExchangeRelay;
}

/** Passes everything through unchanged. */
export const HONEST_EXCHANGE: KeyExchangeRelay = {
  commitment: (gAHash) => gAHash,
  accept: (gB) => gB,
  confirm: (gA, keyFingerprint) => ({ gA, keyFingerprint }),
  signaling: (data) => data,
  destroy: () => {},
};

/** What an honest server does: relay every message as it came. */
export const HONEST_RELAY: RelayStrategy = { attacking: false, exchange: () => HONEST_EXCHANGE };
