/**
 * The reference rows: the only raw crypto in the benchmark, and deliberately so.
 *
 *   bound: what the scheme cannot avoid per packet on Node's crypto, with nothing else around it — SHA-256 over
 *          (32 + B) bytes (msg_key), two SHA-256 over 52 bytes (msg_key ‖ 36-byte key slice, twice), and
 *          AES-256-CTR over B bytes with a fresh `createCipheriv` per packet (the scheme rekeys every packet).
 *          Inputs are pre-assembled buffers, hashes use the one-shot `crypto.hash` where the runtime has it.
 *          No framing, no key/IV assembly, no copies, no output placement: an upper bound for any Node
 *          implementation of the scheme through `node:crypto`.
 *   gcm:   the SFrame-style alternative: AES-256-GCM per packet with a fixed key and a fresh 12-byte counter IV,
 *          `createCipheriv('aes-256-gcm')` + `update` + `final` + `getAuthTag`.
 */

import * as crypto from 'node:crypto';
import { blackhole, type Workload } from './measure.js';

type Sha256 = (data: Uint8Array) => Uint8Array;

/** The fastest SHA-256 call this Node has: one-shot `crypto.hash(…, 'buffer')` (Node ≥ 20.12), else createHash. */
export const sha256: Sha256 =
  typeof crypto.hash === 'function'
    ? (data) => crypto.hash('sha256', data, 'buffer')
    : (data) => crypto.createHash('sha256').update(data).digest();

/** Which SHA-256 call {@link sha256} uses, for the report. */
export const sha256Call = typeof crypto.hash === 'function' ? 'crypto.hash' : 'createHash';

/** The bare per-packet primitives of the scheme over the pool's bodies. */
export function boundWorkload(bodies: readonly Uint8Array[]): Workload {
  // 32-byte key prefix ‖ body, assembled once: the msg_key hash input without any per-packet copy.
  const prefixed = bodies.map((body) => {
    const buf = crypto.randomFillSync(new Uint8Array(32 + body.length), 0, 32);
    buf.set(body, 32);
    return buf;
  });
  const inputs = prefixed.map((buf) => buf.subarray(32));
  const a = crypto.randomFillSync(new Uint8Array(52));
  const b = crypto.randomFillSync(new Uint8Array(52));
  const key = crypto.randomFillSync(new Uint8Array(32));
  const iv = crypto.randomFillSync(new Uint8Array(16));
  return {
    opsPerRun: bodies.length,
    run() {
      let sink = 0;
      for (let i = 0; i < prefixed.length; i++) {
        sink ^= sha256(prefixed[i]!)[0]!;
        sink ^= sha256(a)[0]!;
        sink ^= sha256(b)[0]!;
        sink ^= crypto.createCipheriv('aes-256-ctr', key, iv).update(inputs[i]!)[0]!;
      }
      blackhole.value ^= sink;
    },
  };
}

/** AES-256-GCM per packet (fixed key, 64-bit counter in a 12-byte IV) over the pool's bodies. */
export function gcmWorkload(bodies: readonly Uint8Array[]): Workload {
  const key = crypto.randomFillSync(new Uint8Array(32));
  const iv = Buffer.alloc(12);
  crypto.randomFillSync(iv, 0, 4); // 4-byte salt, 8-byte packet counter
  let counter = 0;
  return {
    opsPerRun: bodies.length,
    run() {
      let sink = 0;
      for (let i = 0; i < bodies.length; i++) {
        counter++;
        iv.writeUInt32BE(Math.floor(counter / 0x1_0000_0000), 4);
        iv.writeUInt32BE(counter >>> 0, 8);
        const cipher = crypto.createCipheriv('aes-256-gcm', key, iv);
        sink ^= cipher.update(bodies[i]!)[0]!;
        cipher.final();
        sink ^= cipher.getAuthTag()[0]!;
      }
      blackhole.value ^= sink;
    },
  };
}
