/**
 * A simulated lossy network between a sealer and an opener over 1 000 000 packets (issue #6): loss, burst loss,
 * duplication and reordering up to 100 positions. Set MTCALL_SIM_PACKETS to change the count.
 */
import { expect, it } from 'vitest';
import { PacketOpener, PacketSealer } from './sealer.js';
import { REPLAY_WINDOW_SIZE } from './replay-window.js';

const PACKETS = Number(process.env['MTCALL_SIM_PACKETS'] ?? 1_000_000);

it(`delivers each of ${PACKETS} packets at most once, drops only what the rule says, and the counters add up`, () => {
  const key = new Uint8Array(256).map((_, i) => (i * 73 + 11) & 0xff);
  const sealer = new PacketSealer(key, { outgoing: true, channel: 'transport' });
  const opener = new PacketOpener(key, { outgoing: false, channel: 'transport' });
  let rnd = 0x9e3779b9;
  const random = () => ((rnd = (Math.imul(rnd ^ (rnd >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0) / 2 ** 32);
  const MAX_DELAY = 100;
  const buckets: { seq: number; packet: Uint8Array }[][] = Array.from({ length: MAX_DELAY + 1 }, () => []);
  const delivered = new Uint8Array(PACKETS + 1);
  const body = new Uint8Array(8);
  let offered = 0;
  let maxArrived = 0;
  let burst = 0;
  let lost = 0;
  let duplicated = 0;
  let wronglyDropped = 0;
  const arrive = ({ seq, packet }: { seq: number; packet: Uint8Array }) => {
    offered++;
    const result = opener.open(packet);
    const legitimateDrop = delivered[seq] === 1 || seq <= maxArrived - REPLAY_WINDOW_SIZE;
    if (result.ok) {
      if (delivered[seq]) throw new Error(`seq ${seq} delivered twice`);
      if (result.messages[0]!.seq !== seq) throw new Error('wrong packet');
      delivered[seq] = 1;
    } else if (!legitimateDrop) {
      wronglyDropped++;
    } else if (result.reason !== (seq <= maxArrived - REPLAY_WINDOW_SIZE ? 'too-old' : 'replay')) {
      throw new Error(`seq ${seq}: dropped as ${result.reason}`);
    }
    // The opener's window follows the first seqs it accepted; mirror it with the largest seq accepted.
    if (result.ok && seq > maxArrived) maxArrived = seq;
  };
  for (let t = 0; t < PACKETS + MAX_DELAY + 1; t++) {
    if (t < PACKETS) {
      body[0] = t & 0xff;
      const packet = sealer.sealMessage(body);
      const seq = t + 1;
      if (burst > 0) {
        burst--;
        lost++;
      } else if (random() < 0.0005) {
        burst = 1 + Math.floor(random() * 30); // burst loss
        lost++;
      } else if (random() < 0.02) {
        lost++; // random loss
      } else {
        const copies = random() < 0.03 ? 2 : 1;
        if (copies === 2) duplicated++;
        for (let c = 0; c < copies; c++) {
          const delay = random() < 0.2 ? Math.floor(random() * (MAX_DELAY + 1)) : 0; // 20% reordered, up to 100 positions
          buckets[(t + delay) % (MAX_DELAY + 1)]!.push({ seq, packet });
        }
      }
    }
    const due = buckets[t % (MAX_DELAY + 1)]!;
    buckets[t % (MAX_DELAY + 1)] = [];
    for (const p of due) arrive(p);
  }
  const stats = opener.stats;
  let deliveredCount = 0;
  for (let s = 1; s <= PACKETS; s++) deliveredCount += delivered[s]!;
  expect(wronglyDropped).toBe(0);
  expect(stats.opened).toBe(deliveredCount);
  expect(stats.opened + stats.dropped.replay + stats.dropped['too-old'] + stats.dropped.auth + stats.dropped.malformed).toBe(offered);
  expect(stats.dropped.auth + stats.dropped.malformed).toBe(0);
  expect(offered).toBe(PACKETS - lost + duplicated);
  expect(stats.dropped.replay).toBeGreaterThan(duplicated / 2); // duplicates inside the window are caught as replays
  expect(stats.dropped.replay + stats.dropped['too-old']).toBeGreaterThanOrEqual(duplicated); // every second copy is refused
  expect(stats.dropped['too-old']).toBeGreaterThan(0); // reordering beyond the 64-entry window happened and was refused
  expect(deliveredCount).toBeGreaterThan(PACKETS * 0.9);
}, 600_000);
