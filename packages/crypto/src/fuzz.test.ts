/**
 * Fuzz tests of the crypto core's parsers and checkers: `decryptPacket` (all four x), `PacketOpener.open`,
 * `parseMessages`, `ReplayWindow` (against a reference model) and `base64ToBytes`.
 *
 * Inputs: random bytes, mutations of valid inputs (a bit flipped, truncated, extended, bytes inserted or
 * deleted, spliced), boundary sizes (empty, 1, 15/16/17 bytes, 1 MiB), valid packets for another x, packets
 * sealed with a previous call's key, replays. Invariants: nothing throws out of the public API; no forged,
 * mutated or replayed packet is ever accepted; a drop changes no state; counters add up.
 *
 * Reproducible: every target runs under a fixed fast-check seed. Each fast-check run draws one 32-bit batch
 * seed and runs a batch of cases from a small deterministic PRNG seeded with it (amortizing fast-check's
 * per-run overhead); a failure reports the batch seed as the counterexample and the case inside the batch.
 *
 * Volume: at least 100 000 cases per target by default.
 *   Long mode:      MTCALL_FUZZ_RUNS=20 npx vitest run src/fuzz.test.ts   (multiplies every case count; default and minimum 1)
 *   Another seed:   MTCALL_FUZZ_SEED=12345 npx vitest run src/fuzz.test.ts (default: the fixed seeds below)
 *   Case counts:    MTCALL_FUZZ_VERBOSE=1 prints how many cases of each kind every target ran
 * Nothing here measures time.
 */

import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { base64ToBytes, bytesToBase64 } from './bytes.js';
import { ChannelOffset, type ChannelEndpoint } from './channel.js';
import { SEQ_LIMIT, frameMessages, parseMessages, type SeqMessage } from './framing.js';
import { decryptPacket, encryptPacket, MSG_KEY_LENGTH } from './packet.js';
import { REPLAY_WINDOW_SIZE, ReplayWindow, type ReplayVerdict } from './replay-window.js';
import { DEFAULT_MAX_PACKET_BYTES, DROP_REASONS, PacketOpener, PacketSealer, type OpenResult } from './sealer.js';
import { getNodeBackend, nobleBackend } from './backend/index.js';
import { RUNS, TIMEOUT, Rng, fuzz, report, check, hexOf, short, equal, BOUNDARY_LENGTHS, randomLength, randomBytes, mutate, presented, ModelWindow } from '@mtcall/testkit';
import { concatBytes } from './bytes.js';

const setup = new Rng(0x5eed);
/** The call key, and a previous call's key (its packets must never open under the current one). */
const KEY = setup.bytes(256);
const OLD_KEY = setup.bytes(256);
const XS = [ChannelOffset.OutgoingTransport, ChannelOffset.IncomingTransport, ChannelOffset.OutgoingSignaling, ChannelOffset.IncomingSignaling] as const;
type X = (typeof XS)[number];
/** The endpoint whose opener opens packets sealed at x. */
const receiverOf: Record<X, ChannelEndpoint> = {
  0: { outgoing: false, channel: 'transport' },
  8: { outgoing: true, channel: 'transport' },
  128: { outgoing: false, channel: 'signaling' },
  136: { outgoing: true, channel: 'signaling' },
};
const senderOf: Record<X, ChannelEndpoint> = {
  0: { outgoing: true, channel: 'transport' },
  8: { outgoing: false, channel: 'transport' },
  128: { outgoing: true, channel: 'signaling' },
  136: { outgoing: false, channel: 'signaling' },
};

// ---------------------------------------------------------------------------------------------------------------
// decryptPacket

describe('decryptPacket (x = 0, 8, 128, 136)', () => {
  /** Genuine packets per x under KEY, and under OLD_KEY; body by packet hex. */
  const pools = new Map<X, { packets: Uint8Array[]; bodies: Map<string, Uint8Array>; old: Uint8Array[] }>();
  const poolRng = new Rng(0xdec);
  for (const x of XS) {
    const packets: Uint8Array[] = [];
    const bodies = new Map<string, Uint8Array>();
    const old: Uint8Array[] = [];
    for (let i = 0; i < 48; i++) {
      const length = i < BOUNDARY_LENGTHS.length ? BOUNDARY_LENGTHS[i]! : poolRng.int(400);
      const body = randomBytes(poolRng, length);
      const packet = encryptPacket(KEY, x, body);
      packets.push(packet);
      bodies.set(hexOf(packet), body);
      old.push(encryptPacket(OLD_KEY, x, body));
    }
    pools.set(x, { packets, bodies, old });
  }
  const keyCopy = KEY.slice();
  const node = getNodeBackend();

  it('opens exactly the genuine packets of its x; returns null on everything else; never throws or mutates its input', { timeout: TIMEOUT }, () => {
    const kinds = new Map<string, number>();
    const count = (k: string) => kinds.set(k, (kinds.get(k) ?? 0) + 1);
    const done = fuzz(0xd1, 100_000, 500, (rng, i) => {
      const x = XS[i % 4]!;
      const pool = pools.get(x)!;
      const otherX = XS[(i + 1 + rng.int(3)) % 4]!;
      let input: Uint8Array;
      const r = rng.int(100);
      if (r < 35) {
        input = mutate(rng, rng.pick(pool.packets), rng.pick(pool.packets));
        count('mutated');
      } else if (r < 45) {
        input = rng.pick(pools.get(otherX)!.packets);
        count('other-x');
      } else if (r < 55) {
        input = rng.pick(pool.old);
        count('previous-key');
      } else if (r < 62) {
        input = mutate(rng, rng.chance(0.5) ? rng.pick(pools.get(otherX)!.packets) : rng.pick(pool.old));
        count('mutated-other');
      } else if (r < 80) {
        input = randomBytes(rng, randomLength(rng));
        count('random');
      } else if (r < 90) {
        input = rng.bytes(rng.range(MSG_KEY_LENGTH - 1, 3 * MSG_KEY_LENGTH + 1));
        count('random-short');
      } else {
        input = rng.pick(pool.packets);
        count('genuine');
      }
      const arg = presented(rng, input);
      const before = hexOf(arg);
      const body = pool.bodies.get(before);
      const result = decryptPacket(KEY, x, arg);
      check(hexOf(arg) === before, () => `input was modified (x=${x}, ${short(input)})`);
      if (body === undefined) check(result === null, () => `accepted a non-genuine packet at x=${x}: ${short(input)}`);
      else check(result !== null && equal(result, body), () => `genuine packet at x=${x} did not open to its body`);
      // The two backends agree on every input (a quarter of the cases: noble is slower).
      if (node && (i & 3) === 0) {
        const other = decryptPacket(KEY, x, arg, nobleBackend);
        check(other === null ? result === null : result !== null && equal(other, result), () => `node and noble disagree at x=${x} on ${short(input)}`);
      }
    });
    report('decryptPacket', { cases: done, ...Object.fromEntries(kinds) });
    expect(done).toBeGreaterThanOrEqual(100_000 * RUNS);
    expect(kinds.get('mutated')! + kinds.get('genuine')! + kinds.get('random')!).toBeGreaterThan(0.5 * done);
    expect(hexOf(KEY)).toBe(hexOf(keyCopy)); // never wipes or alters the caller's key
  });

  it('boundary sizes up to 1 MiB: random bytes never open, a 1 MiB genuine packet opens and one flipped bit kills it', { timeout: TIMEOUT }, () => {
    const rng = new Rng(0xb0);
    for (const x of XS) {
      for (const length of [0, 1, 15, 16, 17, 32, 33, 1024 * 1024 - 1, 1024 * 1024, 1024 * 1024 + 1]) {
        for (const bytes of [new Uint8Array(length), rng.bytes(length)]) expect(decryptPacket(KEY, x, bytes)).toBeNull();
      }
      const body = rng.bytes(1024 * 1024 - MSG_KEY_LENGTH);
      const packet = encryptPacket(KEY, x, body);
      expect(packet.length).toBe(1024 * 1024);
      expect(equal(decryptPacket(KEY, x, packet)!, body)).toBe(true);
      for (const at of [0, 15, 16, 17, 512 * 1024, packet.length - 1]) {
        const flipped = packet.slice();
        flipped[at]! ^= 0x01;
        expect(decryptPacket(KEY, x, flipped), `bit flipped at ${at}`).toBeNull();
      }
      expect(decryptPacket(KEY, x, packet.subarray(0, packet.length - 1))).toBeNull();
      expect(decryptPacket(KEY, x, concatBytes(packet, new Uint8Array(1)))).toBeNull();
      for (const y of XS) if (y !== x) expect(decryptPacket(KEY, y, packet)).toBeNull();
      expect(decryptPacket(OLD_KEY, x, packet)).toBeNull();
    }
    // Not a Uint8Array at all (a JavaScript caller): null, not an exception.
    for (const junk of [null, undefined, 'packet', 42, [1, 2, 3], new ArrayBuffer(32), new Uint16Array(16)]) {
      expect(decryptPacket(KEY, 0, junk as never)).toBeNull();
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------
// PacketOpener.open: a stateful session against a reference model of the replay rule.

describe('PacketOpener.open', () => {
  it('opens genuine packets exactly as the reference window says; drops every forgery, replay and stray packet without changing state; counters add up', { timeout: TIMEOUT }, () => {
    const SESSION = 500;
    const reasons: Record<string, number> = {};
    let offeredTotal = 0;
    let openedTotal = 0;
    const done = fuzz(0x0b, 100_000, SESSION, (() => {
      // One session per batch: the closure's state is rebuilt whenever a batch starts (index 0).
      let s: ReturnType<typeof newSession>;
      return (rng: Rng, index: number) => {
        if (index === 0) s = newSession(rng);
        step(s, rng);
        if (index === SESSION - 1) finish(s, rng);
      };
    })());

    interface Genuine {
      packet: Uint8Array;
      messages: SeqMessage[];
    }
    function newSession(rng: Rng) {
      const x = rng.pick(XS);
      const receiver = receiverOf[x];
      const small = rng.chance(0.2);
      const maxPacketBytes = small ? rng.range(40, 2048) : DEFAULT_MAX_PACKET_BYTES;
      const near = rng.int(4);
      // Most sessions start at seq 1; some start in the middle or close to 2^30 (the sealer then stops short of it).
      const firstSeq = near === 0 ? rng.range(2, SEQ_LIMIT - SESSION * 8) : near === 1 ? SEQ_LIMIT - SESSION * 8 : 1;
      const strays = XS.filter((y) => y !== x).map((y) => new PacketSealer(KEY, senderOf[y]));
      return {
        x,
        maxPacketBytes,
        sealer: new PacketSealer(KEY, senderOf[x], { firstSeq }),
        oldSealer: new PacketSealer(OLD_KEY, senderOf[x], { firstSeq }),
        strays,
        opener: new PacketOpener(KEY, receiver, { maxPacketBytes }),
        model: new ModelWindow(),
        /** Sealed, not yet offered (delivered out of order; some never). */
        pending: [] as Genuine[],
        /** Offered at least once (for replays and mutations). */
        offered: [] as Genuine[],
        sent: [] as SeqMessage[],
        count: 0,
        messages: 0,
        bytes: 0,
      };
    }
    type Session = ReturnType<typeof newSession>;

    function seal(s: Session, rng: Rng): Genuine {
      const fresh = Array.from({ length: rng.chance(0.7) ? 1 : rng.range(0, 4) }, () => randomBytes(rng, rng.chance(0.9) ? rng.int(40) : rng.pick([127, 128, 200])));
      const resend = s.sent.length > 0 && rng.chance(0.15) ? Array.from({ length: rng.range(1, 3) }, () => s.sent[s.sent.length - 1 - rng.int(Math.min(100, s.sent.length))]!) : [];
      const sealed = s.sealer.seal(fresh, resend);
      for (const m of sealed.messages.slice(0, fresh.length || 1)) s.sent.push(m);
      return { packet: sealed.packet, messages: sealed.messages };
    }

    function snapshot(s: Session) {
      return { max: s.opener.maxReceivedSeq, stats: s.opener.stats };
    }

    function expectCounters(s: Session) {
      const st = s.opener.stats;
      let dropped = 0;
      for (const r of DROP_REASONS) dropped += st.dropped[r];
      check(st.opened + dropped === s.count, () => `counters: opened ${st.opened} + dropped ${dropped} != offered ${s.count}`);
      check(st.messages === s.messages && st.bytes === s.bytes, () => `message/byte counters ${st.messages}/${st.bytes} != ${s.messages}/${s.bytes}`);
      check(s.opener.maxReceivedSeq === s.model.max, () => `max ${s.opener.maxReceivedSeq} != model ${s.model.max}`);
    }

    function offerGenuine(s: Session, rng: Rng, g: Genuine): void {
      const refuse = rng.chance(0.08); // the layer above refuses the content: a drop with no state change
      const before = snapshot(s);
      let seenByAccept: readonly SeqMessage[] | undefined;
      s.count++;
      const result: OpenResult<'malformed'> = s.opener.open(presented(rng, g.packet), refuse ? (m) => ((seenByAccept = m), 'malformed' as const) : undefined);
      const firstVerdict = g.packet.length > s.maxPacketBytes ? 'malformed' : s.model.verdict(g.messages[0]!.seq);
      reasons[result.ok ? 'opened' : result.reason] = (reasons[result.ok ? 'opened' : result.reason] ?? 0) + 1;
      if (firstVerdict !== 'ok' || refuse) {
        const expected = firstVerdict !== 'ok' ? firstVerdict : 'malformed';
        check(!result.ok && result.reason === expected, () => `genuine packet (first seq ${g.messages[0]!.seq}, max ${s.model.max}) gave ${result.ok ? 'ok' : result.reason}, expected ${expected}`);
        if (refuse && firstVerdict === 'ok') check(seenByAccept !== undefined && seenByAccept.length === g.messages.length, () => 'accept() did not see the messages');
        expectUnchanged(s, before);
        return;
      }
      check(result.ok, () => `genuine packet (first seq ${g.messages[0]!.seq}, max ${s.model.max}) was dropped as ${result.ok ? '' : result.reason}`);
      if (!result.ok) return;
      check(result.messages.length === g.messages.length, () => 'message count differs');
      for (let k = 0; k < g.messages.length; k++) {
        const got = result.messages[k]!;
        const want = g.messages[k]!;
        const verdict = s.model.verdict(want.seq);
        if (verdict === 'ok') s.model.accept(want.seq);
        check(got.seq === want.seq && equal(got.data, want.data), () => `message ${k} differs`);
        check(got.verdict === verdict && got.fresh === (verdict === 'ok'), () => `message ${k} (seq ${want.seq}) verdict ${got.verdict}, model ${verdict}`);
        s.messages++;
        s.bytes += want.data.length;
      }
      const after = s.opener.stats;
      check(after.opened === before.stats.opened + 1, () => 'opened did not increment by exactly 1');
      openedTotal++;
    }

    function expectUnchanged(s: Session, before: ReturnType<typeof snapshot>): void {
      const after = snapshot(s);
      check(after.max === before.max, () => `a drop moved the window: ${before.max} -> ${after.max}`);
      check(after.stats.opened === before.stats.opened && after.stats.messages === before.stats.messages && after.stats.bytes === before.stats.bytes, () => 'a drop changed the opened counters');
    }

    function offerForgery(s: Session, rng: Rng, input: Uint8Array, authentic = false): void {
      const before = snapshot(s);
      const arg = presented(rng, input);
      const copy = hexOf(arg);
      s.count++;
      const result = s.opener.open(arg);
      check(hexOf(arg) === copy, () => 'open() modified its input');
      reasons[result.ok ? 'opened' : result.reason] = (reasons[result.ok ? 'opened' : result.reason] ?? 0) + 1;
      check(!result.ok, () => `accepted a forged/stray packet: ${short(input)}`);
      if (result.ok) return;
      const expected = input.length < MSG_KEY_LENGTH || input.length > s.maxPacketBytes ? 'malformed' : authentic ? 'malformed' : 'auth';
      check(result.reason === expected, () => `forgery of ${input.length} bytes dropped as ${result.reason}, expected ${expected}`);
      expectUnchanged(s, before);
      // After a drop the next genuine packet (if any is waiting) opens as if nothing had happened.
      if (s.pending.length > 0 && rng.chance(0.3)) offerGenuine(s, rng, s.pending.shift()!);
    }

    function step(s: Session, rng: Rng): void {
      // Keep up to ~100 packets in flight so delivery can be reordered by up to 100 positions.
      while (s.pending.length < 2 || (s.pending.length < 100 && rng.chance(0.5))) s.pending.push(seal(s, rng));
      const r = rng.int(100);
      if (r < 40) {
        // Deliver a genuine packet: usually the oldest, sometimes one far ahead; sometimes lose one.
        const at = rng.chance(0.6) ? 0 : rng.int(rng.chance(0.8) ? Math.min(s.pending.length, 16) : s.pending.length);
        const [g] = s.pending.splice(at, 1);
        if (rng.chance(0.05)) return void s.offered.push(g!); // lost on the way (still available to replay later)
        offerGenuine(s, rng, g!);
        s.offered.push(g!);
        if (s.offered.length > 300) s.offered.splice(0, 100);
      } else if (r < 50 && s.offered.length > 0) {
        // A replay (or a late first delivery of a lost one): usually recent, inside the window.
        offerGenuine(s, rng, s.offered[s.offered.length - 1 - rng.int(rng.chance(0.7) ? Math.min(s.offered.length, 40) : s.offered.length)]!);
      } else if (r < 75) {
        const src = rng.chance(0.5) && s.offered.length > 0 ? rng.pick(s.offered) : rng.pick(s.pending);
        offerForgery(s, rng, mutate(rng, src.packet, rng.pick(s.pending).packet));
      } else if (r < 82) {
        offerForgery(s, rng, rng.pick(s.strays).sealMessage(randomBytes(rng, rng.int(40)))); // another x, same key
      } else if (r < 88) {
        offerForgery(s, rng, s.oldSealer.seal([randomBytes(rng, rng.int(40))]).packet); // a previous call's key
      } else if (r < 96) {
        const length = rng.chance(0.5) ? rng.pick([0, 1, 15, 16, 17, 20, 21, 32, 33, s.maxPacketBytes, s.maxPacketBytes + 1]) : randomLength(rng);
        offerForgery(s, rng, length > 4096 ? new Uint8Array(length) : randomBytes(rng, length));
      } else {
        // Authentic (sealed with the key) but malformed framing: only the peer could send it; still no state change.
        const body = rng.pick([
          new Uint8Array(0),
          new Uint8Array(5), // seq 0
          new Uint8Array([0x40, 0, 0, 0, 0]), // seq 2^30
          new Uint8Array([0, 0, 0, 1]), // no length
          new Uint8Array([0, 0, 0, 1, 0x80, 0]), // non-minimal length
          new Uint8Array([0, 0, 0, 1, 5, 1, 2]), // length past the end
          new Uint8Array([0, 0, 0, 1, 0, 9]), // a trailing byte
          concatBytes(frameMessages([{ seq: s.model.max + 1, data: rng.bytes(3) }]), new Uint8Array([0])),
        ]);
        offerForgery(s, rng, encryptPacket(KEY, s.x, body), true);
      }
      if ((s.count & 15) === 0) expectCounters(s);
    }

    function finish(s: Session, rng: Rng): void {
      expectCounters(s);
      offeredTotal += s.count;
      // A destroyed opener drops everything as 'auth' and still never throws.
      if (rng.chance(0.2)) {
        s.opener.destroy();
        const g = s.pending[0] ?? s.offered[0]!;
        const result = s.opener.open(g.packet);
        check(!result.ok && result.reason === (g.packet.length > s.maxPacketBytes ? 'malformed' : 'auth'), () => 'destroyed opener opened a packet');
      }
    }

    report('PacketOpener.open', { steps: done, offered: offeredTotal, ...reasons });
    expect(done).toBeGreaterThanOrEqual(100_000 * RUNS);
    expect(offeredTotal).toBeGreaterThanOrEqual(done);
    // Every kind of outcome was exercised.
    for (const k of ['opened', 'auth', 'replay', 'malformed', 'too-old']) expect(reasons[k], k).toBeGreaterThan(100);
    expect(openedTotal).toBe(reasons.opened);
  });

  it('boundary: a packet of exactly maxPacketBytes (1 MiB) opens, one byte more is malformed before any work', { timeout: TIMEOUT }, () => {
    const rng = new Rng(0x1b);
    const sealer = new PacketSealer(KEY, senderOf[0]);
    const opener = new PacketOpener(KEY, receiverOf[0]);
    // 16 (msg_key) + 4 (seq) + 3 (varint) + data = 1 MiB.
    const data = rng.bytes(DEFAULT_MAX_PACKET_BYTES - MSG_KEY_LENGTH - 4 - 3);
    const packet = sealer.sealMessage(data);
    expect(packet.length).toBe(DEFAULT_MAX_PACKET_BYTES);
    const flipped = packet.slice();
    flipped[DEFAULT_MAX_PACKET_BYTES >> 1]! ^= 4;
    expect(opener.open(flipped)).toEqual({ ok: false, reason: 'auth' });
    expect(opener.open(concatBytes(packet, new Uint8Array(1)))).toEqual({ ok: false, reason: 'malformed' });
    const opened = opener.open(packet);
    expect(opened.ok && equal(opened.messages[0]!.data, data)).toBe(true);
    expect(opener.open(packet)).toEqual({ ok: false, reason: 'replay' });
    const big = sealer.sealMessage(rng.bytes(DEFAULT_MAX_PACKET_BYTES));
    expect(opener.open(big)).toEqual({ ok: false, reason: 'malformed' });
    expect(opener.stats).toMatchObject({ opened: 1, dropped: { auth: 1, replay: 1, malformed: 2, 'too-old': 0 } });
    for (const junk of [null, undefined, 'packet', [0, 0, 0, 1], new ArrayBuffer(64)]) expect(opener.open(junk as never)).toEqual({ ok: false, reason: 'malformed' });
  });
});

// ---------------------------------------------------------------------------------------------------------------
// parseMessages

/** An independent reading of the framing grammar (framing.ts's header comment), for differential testing. */
function referenceParse(body: Uint8Array): SeqMessage[] | null {
  const out: SeqMessage[] = [];
  let at = 0;
  if (body.length === 0) return null; // message+
  while (at < body.length) {
    if (at + 4 > body.length) return null;
    const seq = body[at]! * 2 ** 24 + body[at + 1]! * 2 ** 16 + body[at + 2]! * 2 ** 8 + body[at + 3]!;
    if (!(seq >= 1 && seq < 2 ** 30)) return null;
    at += 4;
    // LEB128, 1..5 bytes, minimal: decode, then re-encode and compare byte counts.
    const start = at;
    let value = 0;
    let done = false;
    for (let k = 0; k < 5 && at < body.length; k++) {
      const b = body[at++]!;
      value += (b & 0x7f) * 2 ** (7 * k);
      if (b < 0x80) {
        done = true;
        break;
      }
    }
    if (!done) return null;
    let minimal = 1;
    for (let v = value; v >= 128; v = Math.floor(v / 128)) minimal++;
    if (at - start !== minimal) return null;
    if (at + value > body.length) return null;
    out.push({ seq, data: body.subarray(at, at + value) });
    at += value;
  }
  return out;
}

describe('parseMessages', () => {
  it('parses exactly the canonical framings (agrees with a reference parser; re-framing gives the input back)', { timeout: TIMEOUT }, () => {
    let accepted = 0;
    const SEQS = [1, 2, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0xffffff, 0x1000000, SEQ_LIMIT - 1];
    const LENGTHS = [0, 1, 2, 126, 127, 128, 129, 255, 256, 16383, 16384];
    const validMessages = (rng: Rng): SeqMessage[] =>
      Array.from({ length: rng.range(1, 4) }, () => ({
        seq: rng.chance(0.5) ? rng.pick(SEQS) : rng.range(1, SEQ_LIMIT - 1),
        data: randomBytes(rng, rng.chance(0.1) ? rng.pick(LENGTHS) : rng.int(24)),
      }));
    const done = fuzz(0xf4, 100_000, 1000, (rng) => {
      let body: Uint8Array;
      let expected: SeqMessage[] | undefined;
      const r = rng.int(100);
      if (r < 20) {
        expected = validMessages(rng);
        body = frameMessages(expected);
      } else if (r < 60) {
        body = mutate(rng, frameMessages(validMessages(rng)));
      } else if (r < 75) {
        // a hand-made header: any 32-bit seq, a varint of 1..6 bytes (maybe non-minimal, maybe unterminated), some data
        const varintLength = rng.range(1, 6);
        const varint = Array.from({ length: varintLength }, (_, k) => (k < varintLength - 1 || rng.chance(0.2) ? 0x80 : 0) | (rng.chance(0.5) ? 0 : rng.int(128)));
        body = concatBytes(rng.bytes(4), new Uint8Array(varint), rng.bytes(rng.int(20)));
        if (rng.chance(0.5)) body[0] = rng.pick([0, 0x3f, 0x40, 0xff]);
      } else {
        body = randomBytes(rng, rng.chance(0.5) ? rng.int(24) : randomLength(rng));
      }
      const arg = presented(rng, body);
      const parsed = parseMessages(arg);
      const reference = referenceParse(body);
      check((parsed === null) === (reference === null), () => `parseMessages ${parsed === null ? 'rejected' : 'accepted'} ${short(body)}; the reference ${reference === null ? 'rejects' : 'accepts'} it`);
      if (parsed === null) {
        check(expected === undefined, () => `rejected a valid framing: ${short(body)}`);
        return;
      }
      accepted++;
      check(parsed.length > 0, () => 'accepted with no messages');
      for (const m of parsed) check(Number.isInteger(m.seq) && m.seq >= 1 && m.seq < SEQ_LIMIT, () => `seq ${m.seq} out of range`);
      check(equal(frameMessages(parsed), body), () => `not canonical: re-framing ${short(body)} differs`);
      for (let k = 0; k < parsed.length; k++) check(parsed[k]!.seq === reference![k]!.seq && equal(parsed[k]!.data, reference![k]!.data), () => `message ${k} differs from the reference`);
      if (expected) check(parsed.length === expected.length && parsed.every((m, k) => m.seq === expected[k]!.seq && equal(m.data, expected[k]!.data)), () => 'a valid framing parsed to other messages');
    });
    report('parseMessages', { cases: done, accepted });
    expect(done).toBeGreaterThanOrEqual(100_000 * RUNS);
    expect(accepted).toBeGreaterThan(0.2 * done);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// ReplayWindow

describe('ReplayWindow', () => {
  it('answers every verdict/check/accept exactly as the plain-set reference model of the spec rule', { timeout: TIMEOUT }, () => {
    const SPECIAL = [0, -0, -1, 0.5, 1.5, NaN, Infinity, -Infinity, 2 ** 30, 2 ** 31, 2 ** 32, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 1, 2 ** 53 + 2, 1e300, Number.MIN_VALUE];
    const verdicts: Record<string, number> = {};
    const done = fuzz(0x7e, 100_000, 2000, (() => {
      let window = new ReplayWindow();
      let model = new ModelWindow();
      return (rng: Rng, index: number) => {
        if (index === 0) {
          window = new ReplayWindow();
          model = new ModelWindow();
        }
        const r = rng.int(100);
        let seq: number;
        if (r < 70) seq = model.max + rng.range(-REPLAY_WINDOW_SIZE - 6, REPLAY_WINDOW_SIZE + 6);
        else if (r < 80) seq = model.max + rng.pick([-64, -63, -65, 0, 1, 64, 65]);
        else if (r < 90) seq = model.max + rng.range(1, 100_000) * (rng.chance(0.7) ? 1 : -1);
        else if (r < 97) seq = rng.range(1, 200);
        else seq = rng.pick(SPECIAL);
        const op = rng.int(100);
        if (op < 1) {
          window.reset();
          model.reset();
        } else if (op < 25) {
          const v = window.verdict(seq);
          verdicts[v] = (verdicts[v] ?? 0) + 1;
          check(v === model.verdict(seq), () => `verdict(${seq}) = ${v}, model ${model.verdict(seq)} (max ${model.max})`);
        } else if (op < 40) {
          check(window.check(seq) === (model.verdict(seq) === 'ok'), () => `check(${seq}) disagrees (max ${model.max})`);
        } else {
          const expected = model.verdict(seq);
          verdicts[expected] = (verdicts[expected] ?? 0) + 1;
          const got = window.accept(seq);
          check(got === model.accept(seq), () => `accept(${seq}) = ${got}, model verdict ${expected} (max ${model.max})`);
        }
        check(window.maxReceivedSeq === model.max, () => `maxReceivedSeq ${window.maxReceivedSeq}, model ${model.max}`);
      };
    })());
    report('ReplayWindow', { operations: done, ...verdicts });
    expect(done).toBeGreaterThanOrEqual(100_000 * RUNS);
    for (const v of ['ok', 'replay', 'too-old']) expect(verdicts[v], v).toBeGreaterThan(1000);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// base64ToBytes

describe('base64ToBytes', () => {
  /** The oracle: Node's lenient decoder, and canonical = re-encoding gives the text back. */
  const oracle = (text: string): Uint8Array | null => {
    const bytes = Buffer.from(text, 'base64');
    return bytes.toString('base64') === text ? new Uint8Array(bytes) : null;
  };
  const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const JUNK = ['=', '-', '_', ' ', '\n', '\r', '\t', '.', '\0', '%', 'é', '€', '😀', '\u00a0', '\ufeff', 'A=', '==', '\\', '"', '\ud800'];

  function mutateText(rng: Rng, text: string): string {
    const n = text.length;
    const at = rng.int(n + 1);
    const char = rng.chance(0.5) ? ALPHABET[rng.int(64)]! : rng.pick(JUNK);
    switch (rng.int(8)) {
      case 0:
        return text.slice(0, at) + char + text.slice(at); // inserted
      case 1:
        return text.slice(0, at) + text.slice(at + 1); // deleted
      case 2:
        return text.slice(0, at) + char + text.slice(at + 1); // replaced
      case 3:
        return text.replace(/=+$/, ''); // padding dropped
      case 4:
        return text + rng.pick(['=', '==', 'A', 'AA', 'AAA', 'AAAA', '\n']); // extended
      case 5:
        return text.slice(0, rng.int(n + 1)); // truncated
      case 6:
        return text.replace(/\+/g, '-').replace(/\//g, '_'); // URL-safe alphabet
      default: {
        // the last data character changed (non-zero padding bits when followed by '=')
        const last = text.replace(/=+$/, '').length - 1;
        return last < 0 ? char : text.slice(0, last) + ALPHABET[rng.int(64)]! + text.slice(last + 1);
      }
    }
  }

  it('accepts exactly canonical padded base64 and decodes it exactly (Node decoder as oracle); never throws', { timeout: TIMEOUT }, () => {
    let accepted = 0;
    const done = fuzz(0xb6, 100_000, 2000, (rng) => {
      const r = rng.int(100);
      let text: string;
      let bytes: Uint8Array | undefined;
      if (r < 25) {
        bytes = rng.bytes(rng.chance(0.5) ? rng.pick(BOUNDARY_LENGTHS) : rng.int(100));
        text = bytesToBase64(bytes);
      } else if (r < 75) {
        text = mutateText(rng, bytesToBase64(rng.bytes(rng.chance(0.5) ? rng.int(20) : rng.pick(BOUNDARY_LENGTHS))));
        if (rng.chance(0.2)) text = mutateText(rng, text);
      } else {
        const chars = rng.chance(0.7) ? ALPHABET + '==' : ALPHABET + JUNK.join('');
        text = Array.from({ length: rng.int(14) }, () => chars[rng.int(chars.length)]!).join('');
      }
      const got = base64ToBytes(text);
      const want = oracle(text);
      check(want === null ? got === null : got !== null && equal(got, want), () => `base64ToBytes(${JSON.stringify(text)}) = ${got === null ? 'null' : short(got)}, oracle ${want === null ? 'null' : short(want)}`);
      if (got !== null) {
        accepted++;
        check(bytesToBase64(got) === text, () => `not canonical: ${JSON.stringify(text)}`);
      }
      if (bytes) check(got !== null && equal(got, bytes), () => `round trip of ${short(bytes!)} failed`);
    });
    report('base64ToBytes', { cases: done, accepted });
    expect(done).toBeGreaterThanOrEqual(100_000 * RUNS);
    expect(accepted).toBeGreaterThan(0.2 * done);
  });

  it('boundary: empty, 1 MiB, non-strings', { timeout: TIMEOUT }, () => {
    const rng = new Rng(0xb7);
    expect(base64ToBytes('')).toEqual(new Uint8Array(0));
    const mib = rng.bytes(1024 * 1024);
    const text = bytesToBase64(mib);
    expect(equal(base64ToBytes(text)!, mib)).toBe(true);
    expect(base64ToBytes(text.slice(0, -1))).toBeNull();
    expect(base64ToBytes(text + '=')).toBeNull();
    expect(base64ToBytes(text.slice(0, 1000) + ' ' + text.slice(1000))).toBeNull();
    for (const junk of [null, undefined, 42, {}, [], new Uint8Array(4), Symbol('x'), { toString: () => 'AAAA' }]) expect(base64ToBytes(junk as never)).toBeNull();
  });
});
