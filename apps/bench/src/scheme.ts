/**
 * The measured rows: @mtcall/crypto's real media hot path, through its public API only.
 *
 *   seal: `PacketSealer.sealMessage(body)`, one message per packet, one sealer (fixed key) for the whole row.
 *   open: `PacketOpener.open(packet)` over packets sealed beforehand by the peer's sealer.
 *
 * `size` is the message (media payload) length. The sealer frames it as seq ‖ length ‖ data, so the encrypted
 * body is 5–7 bytes longer than `size`; the reference rows use exactly `size` bytes, which makes the ratios
 * very slightly pessimistic for the scheme (a handful of bytes, invisible above 160 B).
 */

import { PacketOpener, PacketSealer, type ChannelEndpoint, type CryptoBackend } from '@mtcall/crypto';
import { randomFillSync } from 'node:crypto';
import { blackhole, type Workload } from './measure.js';

export { poolCount } from './shared.js';

/** The caller's transport sender... */
export const SEALER_ENDPOINT: ChannelEndpoint = { outgoing: true, channel: 'transport' };
/** ...and the callee's transport receiver: both use x = 0, so the opener accepts what the sealer produces. */
export const OPENER_ENDPOINT: ChannelEndpoint = { outgoing: false, channel: 'transport' };

/** `count` random buffers of `size` bytes, generated once and reused by every batch. */
export function randomBodies(size: number, count: number): Uint8Array[] {
  return Array.from({ length: count }, () => randomFillSync(new Uint8Array(size)));
}

/** A random 256-byte call key. */
export function randomKey(): Uint8Array {
  return randomFillSync(new Uint8Array(256));
}

/** `sealMessage` over every body of the pool, one packet per body; one sealer for the whole row (the key is fixed). */
export function sealWorkload(key: Uint8Array, backend: CryptoBackend, bodies: readonly Uint8Array[]): Workload {
  // One sealer per row: 2^30 seqs are far more than any run seals.
  const sealer = new PacketSealer(key, SEALER_ENDPOINT, { backend });
  return {
    opsPerRun: bodies.length,
    run() {
      let sink = 0;
      for (let i = 0; i < bodies.length; i++) sink ^= sealer.sealMessage(bodies[i]!)[0]!;
      blackhole.value ^= sink;
    },
  };
}

/** Packets sealed by the peer (seqs 1..n in order), one per body. */
export function sealPackets(key: Uint8Array, backend: CryptoBackend, bodies: readonly Uint8Array[]): Uint8Array[] {
  const sealer = new PacketSealer(key, SEALER_ENDPOINT, { backend });
  const packets = bodies.map((body) => sealer.sealMessage(body));
  sealer.destroy();
  return packets;
}

/**
 * `open` over every pre-sealed packet once, in seq order.
 *
 * The opener's replay window rejects a packet it has seen (and anything 64 seqs behind), so replaying the same
 * pool into one opener would measure the cheap-ish drop path after the first pass. Sealing a fresh packet per
 * timed open is impossible for 65536-byte bodies (hundreds of MB) and sealing inside the loop would time the
 * sealer too. So each batch gets a fresh opener, created in the untimed `prepare` step (a receiver is created
 * once per call, not per packet), and sees seqs 1..n in order exactly as a live receiver would: every open in
 * the timed region goes the full path — KDF, AES-CTR, msg_key check, framing parse, replay window accept. Every
 * result is checked, so a dropped packet aborts the benchmark instead of inflating it.
 */
export function openWorkload(key: Uint8Array, backend: CryptoBackend, packets: readonly Uint8Array[]): Workload {
  let opener = new PacketOpener(key, OPENER_ENDPOINT, { backend });
  let failed = 0;
  return {
    opsPerRun: packets.length,
    prepare() {
      opener.destroy();
      opener = new PacketOpener(key, OPENER_ENDPOINT, { backend });
    },
    run() {
      for (let i = 0; i < packets.length; i++) if (!opener.open(packets[i]!).ok) failed++;
      if (failed !== 0) throw new Error(`open: ${failed} packet(s) dropped (${JSON.stringify(opener.stats.dropped)}); the benchmark is invalid`);
    },
  };
}
