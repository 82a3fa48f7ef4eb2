import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createCipheriv, createHash } from 'node:crypto';
import { PacketOpener, PacketSealer, type OpenResult } from './sealer.js';
import { SEQ_LIMIT, frameMessages } from './framing.js';
import { DestroyedError, SeqExhaustedError } from './errors.js';
import { availableBackends } from './backend/index.js';
import { createWebCryptoBackend, type AsyncCryptoBackend } from './backend/webcrypto.js';
import { bytesToHex, randomBytes } from './bytes.js';
import { encryptPacket } from './packet.js';
import type { ChannelEndpoint } from './channel.js';
import { hex, vectors } from './test-support/vectors.js';

const key = hex(vectors.key);
const callerTransport: ChannelEndpoint = { outgoing: true, channel: 'transport' };
const calleeTransport: ChannelEndpoint = { outgoing: false, channel: 'transport' };
const callerSignaling: ChannelEndpoint = { outgoing: true, channel: 'signaling' };
const calleeSignaling: ChannelEndpoint = { outgoing: false, channel: 'signaling' };
const text = (s: string) => new TextEncoder().encode(s);
const messagesOf = (r: OpenResult<string>) => (r.ok ? r.messages.map((m) => ({ seq: m.seq, data: new TextDecoder().decode(m.data), fresh: m.fresh })) : r.reason);


describe.each(availableBackends().map((b) => [b.name, b] as const))('backend %s', (_name, backend) => {
  it('uses x = 0/8 on transport and 128/136 on signaling, in the right direction', () => {
    expect(new PacketSealer(key, callerTransport, { backend }).x).toBe(0);
    expect(new PacketOpener(key, calleeTransport, { backend }).x).toBe(0);
    expect(new PacketSealer(key, calleeTransport, { backend }).x).toBe(8);
    expect(new PacketOpener(key, callerTransport, { backend }).x).toBe(8);
    expect(new PacketSealer(key, callerSignaling, { backend }).x).toBe(128);
    expect(new PacketOpener(key, calleeSignaling, { backend }).x).toBe(128);
    expect(new PacketSealer(key, calleeSignaling, { backend }).x).toBe(136);
    expect(new PacketOpener(key, callerSignaling, { backend }).x).toBe(136);
  });

  it('produces packets byte-equal to the independent vectors', () => {
    for (const v of vectors.framed) {
      const body = frameMessages(v.messages.map((m) => ({ seq: m.seq, data: hex(m.data) })));
      expect(bytesToHex(encryptPacket(key, v.x as 0 | 8, body, backend))).toBe(v.packet);
      const opener = new PacketOpener(key, v.x === 0 ? calleeTransport : callerTransport, { backend });
      const result = opener.open(hex(v.packet));
      expect(result.ok && result.messages.map((m) => ({ seq: m.seq, data: bytesToHex(m.data) }))).toEqual(v.messages);
    }
    const first = vectors.framed[0]!;
    const sealer = new PacketSealer(key, callerTransport, { backend });
    expect(bytesToHex(sealer.sealMessage(hex(first.messages[0]!.data)))).toBe(first.packet);
  });

  it('numbers messages from 1, opens them on the peer only, and counts', () => {
    const sealer = new PacketSealer(key, callerSignaling, { backend });
    const opener = new PacketOpener(key, calleeSignaling, { backend });
    const wrongSide = new PacketOpener(key, callerSignaling, { backend });
    const p1 = sealer.seal([text('a'), text('b')]);
    expect(p1.messages.map((m) => m.seq)).toEqual([1, 2]);
    const p2 = sealer.seal([text('c')]);
    expect(messagesOf(opener.open(p2.packet))).toEqual([{ seq: 3, data: 'c', fresh: true }]);
    expect(messagesOf(opener.open(p1.packet))).toEqual([
      { seq: 1, data: 'a', fresh: true },
      { seq: 2, data: 'b', fresh: true },
    ]);
    expect(messagesOf(wrongSide.open(p1.packet))).toBe('auth');
    expect(messagesOf(new PacketOpener(key, calleeTransport, { backend }).open(p1.packet))).toBe('auth');
    expect(sealer.stats).toEqual({ packets: 2, messages: 3, bytes: 3 });
    expect(opener.stats).toEqual({ opened: 2, messages: 3, bytes: 3, dropped: { auth: 0, replay: 0, malformed: 0, 'too-old': 0 } });
  });

  it('puts a fresh empty message first when only resends are sent', () => {
    const sealer = new PacketSealer(key, callerSignaling, { backend });
    const opener = new PacketOpener(key, calleeSignaling, { backend });
    const first = sealer.seal([text('offer')]);
    expect(opener.open(first.packet).ok).toBe(true);
    const resend = sealer.seal([], first.messages);
    expect(resend.messages.map((m) => m.seq)).toEqual([2, 1]);
    expect(messagesOf(opener.open(resend.packet))).toEqual([
      { seq: 2, data: '', fresh: true },
      { seq: 1, data: 'offer', fresh: false },
    ]);
    expect(() => sealer.seal([], [{ seq: 3, data: text('never sent') }])).toThrow(RangeError);
  });

  it('drops replays, stale packets, forgeries and garbage with a reason, changing no state', () => {
    const sealer = new PacketSealer(key, calleeTransport, { backend });
    const opener = new PacketOpener(key, callerTransport, { backend });
    const packets = Array.from({ length: 100 }, (_, i) => sealer.sealMessage(text(`frame ${i + 1}`)));
    expect(opener.open(packets[99]!).ok).toBe(true); // seq 100
    const snapshot = () => ({ max: opener.maxReceivedSeq, stats: opener.stats });
    const expectDrop = (packet: Uint8Array, reason: string) => {
      const before = snapshot();
      expect(messagesOf(opener.open(packet))).toBe(reason);
      const after = snapshot();
      expect(after.max).toBe(before.max);
      expect(after.stats.opened).toBe(before.stats.opened);
    };
    expectDrop(packets[99]!, 'replay');
    expectDrop(packets[35]!, 'too-old'); // seq 36 = 100 - 64
    expectDrop(packets[0]!, 'too-old');
    const flipped = packets[50]!.slice();
    flipped[20]! ^= 0x10;
    expectDrop(flipped, 'auth');
    expectDrop(new Uint8Array(3), 'malformed');
    expectDrop(encryptPacket(key, 8, new Uint8Array(0), backend), 'malformed'); // authentic but empty body
    expectDrop(encryptPacket(key, 8, new Uint8Array([0, 0, 0, 0, 0]), backend), 'malformed'); // seq 0
    // A forged packet changed nothing: the genuine ones it imitated still open, once.
    expect(messagesOf(opener.open(packets[50]!))).toEqual([{ seq: 51, data: 'frame 51', fresh: true }]);
    expect(messagesOf(opener.open(packets[36]!))).toEqual([{ seq: 37, data: 'frame 37', fresh: true }]);
    expect(opener.stats.dropped).toEqual({ auth: 1, replay: 1, malformed: 3, 'too-old': 2 });
    expect(opener.stats.opened).toBe(3);
  });

  it('memorizes every seq of a packet, not just the first (the spec: "the seq values of all incoming messages")', () => {
    const sealer = new PacketSealer(key, callerSignaling, { backend });
    const opener = new PacketOpener(key, calleeSignaling, { backend });
    const first = sealer.seal([text('a')]); // seq 1, lost on the way
    const second = sealer.seal([text('b')], first.messages); // seq 2, carrying a resend of seq 1
    const opened = opener.open(second.packet);
    expect(opened.ok && opened.messages.map((m) => [m.seq, m.verdict])).toEqual([[2, 'ok'], [1, 'ok']]);
    // The original seq-1 packet arriving late is now a replay, because seq 1 was memorized.
    expect(messagesOf(opener.open(first.packet))).toBe('replay');
  });

  it('tells a resend it no longer remembers (too old) from a duplicate', () => {
    const sealer = new PacketSealer(key, callerSignaling, { backend });
    const opener = new PacketOpener(key, calleeSignaling, { backend });
    const lost = sealer.seal([text('lost')]);
    for (let i = 0; i < 70; i++) expect(opener.open(sealer.seal([text('x')]).packet).ok).toBe(true);
    const resend = opener.open(sealer.seal([], lost.messages).packet);
    expect(resend.ok && resend.messages.map((m) => [m.seq, m.verdict, m.fresh])).toEqual([[72, 'ok', true], [1, 'too-old', false]]);
    const dup = sealer.seal([], [{ seq: 71, data: text('x') }]);
    const again = opener.open(dup.packet);
    expect(again.ok && again.messages.map((m) => m.verdict)).toEqual(['ok', 'replay']);
  });

  it('drops packets over maxPacketBytes before decrypting', () => {
    const sealer = new PacketSealer(key, callerTransport, { backend });
    const opener = new PacketOpener(key, calleeTransport, { backend, maxPacketBytes: 1000 });
    expect(messagesOf(opener.open(sealer.sealMessage(new Uint8Array(2000))))).toBe('malformed');
    expect(opener.open(sealer.sealMessage(new Uint8Array(900))).ok).toBe(true);
  });

  it('refuses to hand out seq 2^30 and changes nothing when it refuses', () => {
    const sealer = new PacketSealer(key, callerTransport, { backend, firstSeq: SEQ_LIMIT - 2 });
    const opener = new PacketOpener(key, calleeTransport, { backend });
    expect(() => sealer.seal([text('a'), text('b'), text('c')])).toThrow(SeqExhaustedError);
    expect(sealer.nextSeq).toBe(SEQ_LIMIT - 2);
    const last = sealer.seal([text('a'), text('b')]);
    expect(last.messages.map((m) => m.seq)).toEqual([SEQ_LIMIT - 2, SEQ_LIMIT - 1]);
    expect(opener.open(last.packet).ok).toBe(true);
    expect(() => sealer.sealMessage(text('x'))).toThrow(SeqExhaustedError);
    expect(() => sealer.seal([])).toThrow(/2\^30/);
    expect(() => new PacketSealer(key, callerTransport, { firstSeq: SEQ_LIMIT })).toThrow(RangeError);
    expect(sealer.stats.packets).toBe(1);
  });

  it('stops working once destroyed', () => {
    const sealer = new PacketSealer(key, callerTransport, { backend });
    const opener = new PacketOpener(key, calleeTransport, { backend });
    const packet = sealer.sealMessage(text('x'));
    sealer.destroy();
    opener.destroy();
    expect(() => sealer.sealMessage(text('y'))).toThrow(/destroyed/);
    expect(messagesOf(opener.open(packet))).toBe('auth');
  });
});

it('delivers every packet of a lossy, duplicating, reordering link at most once; counters add up', () => {
  fc.assert(
    fc.property(fc.integer(), (seed) => {
      let rnd = seed >>> 0;
      const next = () => (rnd = (Math.imul(rnd, 1664525) + 1013904223) >>> 0) / 2 ** 32;
      const sealer = new PacketSealer(key, callerTransport);
      const opener = new PacketOpener(key, calleeTransport);
      const wire: { at: number; seq: number; packet: Uint8Array }[] = [];
      for (let i = 0; i < 400; i++) {
        const packet = sealer.sealMessage(new Uint8Array([i & 0xff]));
        if (next() < 0.1) continue; // lost
        const copies = next() < 0.1 ? 2 : 1; // duplicated
        for (let c = 0; c < copies; c++) wire.push({ at: i + next() * 30, seq: i + 1, packet });
      }
      wire.sort((a, b) => a.at - b.at);
      const delivered = new Set<number>();
      let maxSeen = 0;
      for (const { seq, packet } of wire) {
        const result = opener.open(packet);
        if (result.ok) {
          expect(delivered.has(seq)).toBe(false);
          delivered.add(seq);
        } else {
          // Only a duplicate or a packet that fell 64 behind may be dropped.
          expect(delivered.has(seq) || seq <= maxSeen - 64).toBe(true);
        }
        maxSeen = Math.max(maxSeen, seq);
      }
      const stats = opener.stats;
      expect(stats.opened + stats.dropped.replay + stats.dropped['too-old'] + stats.dropped.auth + stats.dropped.malformed).toBe(wire.length);
      expect(stats.opened).toBe(delivered.size);
    }),
    { numRuns: 30, seed: 99 },
  );
});

it('seals what a hand-assembled reference opens (independent framing + KDF reading)', () => {
  const sealer = new PacketSealer(key, callerSignaling);
  const data = randomBytes(300);
  const packet = sealer.seal([data]).packet;
  const x = 128;
  const msgKey = packet.subarray(0, 16);
  const a = createHash('sha256').update(msgKey).update(key.subarray(x, x + 36)).digest();
  const b = createHash('sha256').update(key.subarray(40 + x, 76 + x)).update(msgKey).digest();
  const aesKey = Buffer.concat([a.subarray(0, 8), b.subarray(8, 24), a.subarray(24, 32)]);
  const aesIv = Buffer.concat([b.subarray(0, 4), a.subarray(8, 16), b.subarray(24, 28)]);
  const body = createCipheriv('aes-256-ctr', aesKey, aesIv).update(packet.subarray(16));
  expect(bytesToHex(body.subarray(0, 4))).toBe('00000001');
  expect(bytesToHex(body.subarray(4, 6))).toBe('ac02'); // 300 as LEB128
  expect(Buffer.from(body.subarray(6)).equals(Buffer.from(data))).toBe(true);
});

it('sealMessage(...parts) seals the concatenation, byte-equal to sealing it whole', () => {
  const a = new PacketSealer(key, callerTransport);
  const b = new PacketSealer(key, callerTransport);
  const tag = new Uint8Array([1]);
  const frame = randomBytes(1000);
  const whole = new Uint8Array([1, ...frame]);
  expect(bytesToHex(a.sealMessage(tag, frame))).toBe(bytesToHex(b.sealMessage(whole)));
  expect(bytesToHex(a.sealMessage())).toBe(bytesToHex(b.sealMessage(new Uint8Array(0))));
  expect(a.stats).toEqual(b.stats);
});

it('a content check that refuses drops the packet with its reason, without recording its seq', () => {
  const sealer = new PacketSealer(key, callerTransport);
  const opener = new PacketOpener(key, calleeTransport);
  const packet = sealer.sealMessage(text('x'));
  expect(messagesOf(opener.open(packet, () => 'wrong-stream'))).toBe('wrong-stream');
  expect(opener.maxReceivedSeq).toBe(0);
  expect(opener.stats.dropped.malformed).toBe(1); // counted once, under the opener's own reasons
  expect(messagesOf(opener.open(packet, (m) => (m.length === 1 ? undefined : 'refused')))).toEqual([{ seq: 1, data: 'x', fresh: true }]);
});

describe('the asynchronous (Web Crypto) path', () => {
  const webcrypto = createWebCryptoBackend()!;

  it('seals byte-for-byte what the synchronous path seals, and each opens the other', async () => {
    for (const n of [0, 1, 15, 16, 17, 160, 1200, 4096, 70000]) {
      const sync = new PacketSealer(key, callerTransport);
      const async = new PacketSealer(key, callerTransport);
      const data = randomBytes(n);
      const a = sync.sealMessage(new Uint8Array([2]), data);
      const b = await async.sealMessageAsync(webcrypto, new Uint8Array([2]), data);
      expect(bytesToHex(b)).toBe(bytesToHex(a));
      const opener = new PacketOpener(key, calleeTransport);
      const opened = await opener.openAsync(a, webcrypto);
      expect(opened.ok && bytesToHex(opened.messages[0]!.data)).toBe(bytesToHex(new Uint8Array([2, ...data])));
      expect(messagesOf(await opener.openAsync(a, webcrypto))).toBe('replay');
    }
  });

  it('concurrent seals take distinct seqs in call order; concurrent opens stay consistent; forgeries drop', async () => {
    const sealer = new PacketSealer(key, calleeTransport);
    const opener = new PacketOpener(key, callerTransport);
    const packets = await Promise.all(Array.from({ length: 50 }, (_, i) => sealer.sealMessageAsync(webcrypto, text(`m${i}`))));
    const results = await Promise.all([...packets, ...packets].map((p) => opener.openAsync(p, webcrypto)));
    const opened = results.filter((r) => r.ok).map((r) => (r.ok ? r.messages[0]!.seq : 0));
    expect(opened.sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(results.filter((r) => !r.ok && r.reason === 'replay')).toHaveLength(50);
    const forged = packets[0]!.slice();
    forged[20]! ^= 1;
    expect(messagesOf(await new PacketOpener(key, callerTransport).openAsync(forged, webcrypto))).toBe('auth');
    expect(messagesOf(await opener.openAsync(new Uint8Array(5), webcrypto))).toBe('malformed');
  });

  /**
   * An asynchronous backend that runs `during(call)` while its `call`-th operation (0-based, counting every sha256 and
   * aes256Ctr) is pending — i.e. at that await point of the caller — then lets the operation finish.
   */
  function interruptedAt(point: number, during: () => void): AsyncCryptoBackend & { calls: number } {
    const backend = {
      name: 'interrupted',
      calls: 0,
      async sha256(data: Uint8Array) {
        const result = webcrypto.sha256(data);
        if (backend.calls++ === point) during();
        return result;
      },
      async aes256Ctr(aesKey: Uint8Array, iv: Uint8Array, input: Uint8Array, skip: number) {
        const result = webcrypto.aes256Ctr(aesKey, iv, input, skip);
        if (backend.calls++ === point) during();
        return result;
      },
    };
    return backend;
  }

  it('a destroy at any await point of an asynchronous seal yields no packet: it rejects with DestroyedError (never a packet under the wiped key)', async () => {
    const probe = interruptedAt(-1, () => undefined);
    await new PacketSealer(key, callerTransport).sealMessageAsync(probe, randomBytes(2000));
    expect(probe.calls).toBe(2); // body hash, cipher
    for (let point = 0; point < probe.calls; point++) {
      const sealer = new PacketSealer(key, callerTransport);
      const backend = interruptedAt(point, () => sealer.destroy());
      const sealing = sealer.sealMessageAsync(backend, randomBytes(2000));
      await expect(sealing, `destroyed at await ${point}`).rejects.toBeInstanceOf(DestroyedError);
      await expect(sealer.sealMessageAsync(webcrypto, randomBytes(10))).rejects.toBeInstanceOf(DestroyedError);
      expect(() => sealer.sealMessage(randomBytes(10))).toThrow(DestroyedError);
    }
  });

  it('a destroy at any await point of an asynchronous open drops the packet as auth', async () => {
    const packets = Array.from({ length: 4 }, () => new PacketSealer(key, callerTransport).sealMessage(randomBytes(2000)));
    for (let point = 0; point < 2; point++) {
      const opener = new PacketOpener(key, calleeTransport);
      const backend = interruptedAt(point, () => opener.destroy());
      expect(messagesOf(await opener.openAsync(packets[point]!, backend))).toBe('auth');
    }
  });
});
