/**
 * A room across two SFU processes joined by a mediasoup PipeTransport pair: real mediasoup workers on both sides, the
 * second SFU in a child process (src/test-support/peer-child.mjs, which loads the built dist: build the package first),
 * control over Node's IPC channel. RTP crosses the pipe both ways; key frame requests of the far side's consumers reach
 * the producer; pauses and the producer's end follow it. Packets are fed from the server (`Sfu.inject`) and read by
 * `Sfu.tap` (DirectTransports), so no browser is needed here.
 */

import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PeerChannel, Sfu, SfuError, createPeerLinkPair, parsePeerMessage, type ProducerInfo, type SfuPeerLink } from './index.js';

/** A VP8 producer's RTP parameters as a browser sends them (one SSRC, PLI and FIR feedback). */
const vp8 = (ssrc: number) => ({
  mid: '1',
  codecs: [{
    mimeType: 'video/VP8', payloadType: 96, clockRate: 90000, parameters: {},
    rtcpFeedback: [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }, { type: 'ccm', parameter: 'fir' }],
  }],
  headerExtensions: [],
  encodings: [{ ssrc }],
  rtcp: { cname: `member-${ssrc}`, reducedSize: true },
});

/** An Opus producer's RTP parameters. */
const opus = (ssrc: number) => ({
  mid: '0',
  codecs: [{ mimeType: 'audio/opus', payloadType: 111, clockRate: 48000, channels: 2, parameters: {}, rtcpFeedback: [] }],
  headerExtensions: [],
  encodings: [{ ssrc }],
  rtcp: { cname: `member-${ssrc}`, reducedSize: true },
});

/** One VP8 frame in one RTP packet; every 10th is a key frame (payload bytes stand in for a sealed frame). */
function vp8Packet(ssrc: number, seq: number): Buffer {
  const header = Buffer.alloc(12);
  header[0] = 0x80;
  header[1] = 0x80 | 96; // marker: the frame ends here
  header.writeUInt16BE(seq & 0xffff, 2);
  header.writeUInt32BE((seq * 3000) >>> 0, 4);
  header.writeUInt32BE(ssrc, 8);
  const key = seq % 10 === 0;
  // Payload descriptor (X=1, S=1, partition 0; a 7-bit picture id: mediasoup reads only extended descriptors, as
  // browsers send them), then the VP8 frame tag (P bit clear on key frames), start code, 640×480.
  const frame = Buffer.from([0x90, 0x80, seq & 0x7f, key ? 0x00 : 0x01, 0x00, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01]);
  const sealed = Buffer.alloc(100, seq & 0xff);
  return Buffer.concat([header, frame, sealed]);
}

/** Key frame requests (PLI, FIR) in a compound RTCP packet. */
function keyFrameRequests(rtcp: Buffer): number {
  let count = 0;
  for (let at = 0; at + 4 <= rtcp.length;) {
    const fmt = rtcp[at]! & 0x1f;
    const pt = rtcp[at + 1]!;
    if (pt === 206 && (fmt === 1 || fmt === 4)) count++;
    at += (rtcp.readUInt16BE(at + 2) + 1) * 4;
  }
  return count;
}

/** Waits until `done` holds (the test's timeout bounds it). */
async function until(done: () => boolean): Promise<void> {
  while (!done()) await new Promise((r) => setTimeout(r, 10));
}

/** Feeds packets at ~100/s until stopped (a stimulus, like a camera; the test waits on what arrives). */
function feed(send: (rtp: Buffer) => void, ssrc: number): () => void {
  let seq = 0;
  const timer = setInterval(() => send(vp8Packet(ssrc, seq++)), 10);
  return () => clearInterval(timer);
}

const code = async (p: Promise<unknown>) => p.then(() => 'ok', (e: unknown) => (e instanceof SfuError ? e.code : String(e)));

describe('two Sfu instances joined by a peer link (in one process)', () => {
  let a: Sfu;
  let b: Sfu;
  const onB: { producer: ProducerInfo; event: string }[] = [];
  beforeAll(async () => {
    a = await Sfu.start({ workers: 1 });
    b = await Sfu.start({ workers: 1, onPeerProducer: (_room, producer, event) => onB.push({ producer, event }) });
    const [ab, ba] = createPeerLinkPair();
    a.addPeer('b', ab);
    b.addPeer('a', ba);
  });
  afterAll(() => {
    a?.close();
    b?.close();
  });

  it('pipes a producer to the peer: RTP arrives there, key frame requests come back, pause and close follow it', async () => {
    await a.addMember('room', 1);
    const injected = await a.inject('room', 1, 'video', vp8(1111), 'video');
    let requests = 0;
    injected.onRtcp((rtcp) => { requests += keyFrameRequests(rtcp); });
    await a.pipeToPeer('room', injected.producer.producerId, 'b');
    await a.pipeToPeer('room', injected.producer.producerId, 'b'); // idempotent
    expect(b.producers('room')).toEqual([injected.producer]);
    expect(onB).toEqual([{ producer: injected.producer, event: 'added' }]);

    const received: Buffer[] = [];
    const tap = await b.tap('room', injected.producer.producerId, (rtp) => received.push(Buffer.from(rtp)));
    const stop = feed((rtp) => injected.send(rtp), 1111);
    try {
      await until(() => received.length >= 30);
      // The far side forwards the payload untouched (what the SFU holds is what the sender sealed).
      const sample = received[received.length - 1]!;
      const sealed = sample.subarray(sample.length - 100);
      expect(sealed.every((byte) => byte === sealed[0])).toBe(true);
      const before = requests;
      await tap.requestKeyFrame();
      await until(() => requests > before);

      await a.pauseProducer('room', 1, injected.producer.producerId, true);
      await until(() => b.producers('room')[0]?.paused === true);
      await a.pauseProducer('room', 1, injected.producer.producerId, false);
      await until(() => b.producers('room')[0]?.paused === false);
    } finally {
      stop();
      tap();
    }
    injected.close();
    await until(() => b.producers('room').length === 0);
    expect(onB.map((e) => e.event)).toEqual(['added', 'closed']);
  });

  it('when the peer closes the room, the pipe closes on both sides and a later pipeToPeer opens a new one', async () => {
    await a.addMember('again', 1);
    const injected = await a.inject('again', 1, 'video', vp8(5555), 'video');
    await a.pipeToPeer('again', injected.producer.producerId, 'b');
    expect(b.producers('again')).toHaveLength(1);
    b.closeRoom('again');
    expect(b.producers('again')).toEqual([]);
    // The pipe-closed notice reaches this side asynchronously: pipe again until the peer has the producer again.
    await until(() => b.producers('again').length === 0);
    let attempts = 0;
    while (b.producers('again').length === 0) {
      attempts++;
      await a.pipeToPeer('again', injected.producer.producerId, 'b');
      await new Promise((r) => setImmediate(r));
    }
    expect(b.producers('again')).toEqual([injected.producer]);
    expect(attempts).toBeLessThan(100);
    a.closeRoom('again');
    await until(() => b.producers('again').length === 0);
  });

  it('refuses with named errors and changes nothing', async () => {
    await a.addMember('errors', 1);
    const injected = await a.inject('errors', 1, 'video', vp8(2222), 'video');
    expect(await code(a.pipeToPeer('errors', injected.producer.producerId, 'nobody'))).toBe('unknown-peer');
    expect(await code(a.pipeToPeer('errors', 'nope', 'b'))).toBe('unknown-producer');
    expect(await code(a.pipeToPeer('nope', injected.producer.producerId, 'b'))).toBe('unknown-room');
    expect(b.roomRouters('errors')).toEqual([]);
    expect(parsePeerMessage({ kind: 'request', id: 1, body: { type: 'open-pipe', roomId: 'x', pipeId: 'p', srtp: false, ip: '127.0.0.1', port: 0 } }))
      .toEqual({ ok: false, reason: 'bad peer message: port must be an integer 1..65535' });
    expect(parsePeerMessage({ kind: 'notice', body: { type: 'producer-state', roomId: 'x', pipeId: 'p', producerId: 'q', state: 'gone' } }))
      .toMatchObject({ ok: false, reason: expect.stringMatching(/state must be/) as string });
    expect(parsePeerMessage('{}')).toMatchObject({ ok: false });
    expect(parsePeerMessage({ kind: 'notice', body: { type: 'pipe-closed', roomId: 'x', pipeId: 'p' } })).toEqual({ ok: true, message: { kind: 'notice', body: { type: 'pipe-closed', roomId: 'x', pipeId: 'p' } } });
    a.closeRoom('errors');
  });

  it('answers a malformed request from a peer with bad-peer-message, creating nothing', async () => {
    const [mine, theirs] = createPeerLinkPair();
    const c = await Sfu.start({ workers: 1 });
    try {
      c.addPeer('raw', theirs);
      const replies: unknown[] = [];
      mine.onMessage((m) => replies.push(m));
      (mine as SfuPeerLink & { send(m: unknown): void }).send({ kind: 'request', id: 7, body: { type: 'open-pipe', roomId: 'x', pipeId: 'p', srtp: false, ip: '127.0.0.1', port: 0 } } as never);
      await until(() => replies.length > 0);
      expect(replies[0]).toMatchObject({ kind: 'reply', id: 7, ok: false, code: 'bad-peer-message' });
      expect(c.roomRouters('x')).toEqual([]);
    } finally {
      c.close();
    }
  });
});

describe('PeerChannel', () => {
  it('fails a request the peer leaves unanswered with peer-timeout (injected timers), and pending ones with unknown-peer on close', async () => {
    const timers: { fn: () => void; ms: number; cleared: boolean }[] = [];
    const fake = {
      setTimeout: (fn: () => void, ms: number) => timers.push({ fn, ms, cleared: false }) - 1,
      clearTimeout: (h: unknown) => { timers[h as number]!.cleared = true; },
    };
    const sent: unknown[] = [];
    const silent = { send: (m: unknown) => void sent.push(m), onMessage: () => undefined };
    const channel = new PeerChannel(silent, { onRequest: () => Promise.reject(new Error('unused')), onNotice: () => undefined }, { requestTimeoutMs: 500, timers: fake });
    const first = code(channel.request({ type: 'pipe-producer', roomId: 'r', pipeId: 'p', producerId: 'q', memberId: 1, source: 'video', kind: 'video', rtpParameters: {} as never, paused: false }));
    expect(sent).toHaveLength(1);
    expect(timers.map((t) => t.ms)).toEqual([500]);
    timers[0]!.fn();
    expect(await first).toBe('peer-timeout');
    const second = code(channel.request({ type: 'open-pipe', roomId: 'r', pipeId: 'p', srtp: false, ip: '127.0.0.1', port: 4000 }));
    channel.close();
    expect(await second).toBe('unknown-peer');
    expect(timers[1]!.cleared).toBe(true);
  });
});

/** The parent's handle on the child SFU: calls and the events it forwards. */
interface ChildSfu {
  call<T = unknown>(name: string, ...args: unknown[]): Promise<T>;
  events: { event: string; producerId?: string; data?: string; what?: string; producer?: ProducerInfo }[];
  process: ChildProcess;
}

async function startChild(env: Record<string, string>): Promise<ChildSfu> {
  const child = fork(fileURLToPath(new URL('./test-support/peer-child.mjs', import.meta.url)), [], { env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const events: ChildSfu['events'] = [];
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let nextId = 1;
  child.on('message', (m: { event?: string; reply?: number; ok?: boolean; result?: unknown; code?: string; message?: string }) => {
    if (m.event) events.push(m as ChildSfu['events'][number]);
    if (m.reply !== undefined) {
      const p = pending.get(m.reply);
      pending.delete(m.reply);
      if (m.ok) p?.resolve(m.result);
      else p?.reject(m.code ? new SfuError(m.code as never, m.message ?? '') : new Error(m.message));
    }
  });
  await until(() => events.some((e) => e.event === 'ready') || child.exitCode !== null);
  if (child.exitCode !== null) throw new Error('the child SFU did not start (build the package: npm run build)');
  return {
    events,
    process: child,
    call: <T,>(name: string, ...args: unknown[]) => new Promise<T>((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      child.send({ call: name, id, args });
    }),
  };
}

describe('a room across two SFU processes (the second in a child process, pipes encrypted with SRTP)', () => {
  let a: Sfu;
  let child: ChildSfu;
  beforeAll(async () => {
    a = await Sfu.start({ workers: 1, pipeSrtp: true });
    child = await startChild({ PIPE_SRTP: '1' });
    const { ipcPeerLink } = await import('./index.js');
    a.addPeer('child', ipcPeerLink(child.process));
  });
  afterAll(async () => {
    a?.close();
    if (child && child.process.exitCode === null) {
      const exited = new Promise((r) => child.process.once('exit', r));
      child.process.disconnect();
      await exited;
    }
  });

  it('media and key frame requests cross the pipe from this process to the child', async () => {
    await a.addMember('cross', 1);
    const injected = await a.inject('cross', 1, 'video', vp8(3333), 'video');
    let requests = 0;
    injected.onRtcp((rtcp) => { requests += keyFrameRequests(rtcp); });
    const t0 = performance.now();
    await a.pipeToPeer('cross', injected.producer.producerId, 'child');
    const t1 = performance.now();
    const audio = await a.inject('cross', 1, 'audio', opus(3334), 'audio');
    const t2 = performance.now();
    await a.pipeToPeer('cross', audio.producer.producerId, 'child');
    console.log(`pipe to the child process: first producer (pipe opened) ${(t1 - t0).toFixed(1)} ms, next producer ${(performance.now() - t2).toFixed(1)} ms`);
    audio.close();
    await until(() => child.events.filter((e) => e.event === 'peer-producer' && e.what === 'closed').length === 1);
    expect(await child.call('producers', 'cross')).toEqual([injected.producer]);
    await child.call('tap', 'cross', injected.producer.producerId);
    const stop = feed((rtp) => injected.send(rtp), 3333);
    try {
      const rtp = () => child.events.filter((e) => e.event === 'rtp' && e.producerId === injected.producer.producerId);
      await until(() => rtp().length >= 30);
      const before = requests;
      await child.call('requestKeyFrame', injected.producer.producerId);
      await until(() => requests > before);
    } finally {
      stop();
    }
    injected.close();
    await until(() => child.events.filter((e) => e.event === 'peer-producer' && e.what === 'closed').length === 2);
    expect(await child.call('producers', 'cross')).toEqual([]);
  });

  it('media and key frame requests cross the pipe from the child to this process', async () => {
    await child.call('addMember', 'back', 2);
    const producer = await child.call<ProducerInfo>('inject', 'back', 2, 'video', vp8(4444), 'video');
    await child.call('pipeToPeer', 'back', producer.producerId);
    expect(a.producers('back')).toEqual([producer]);
    const received: Buffer[] = [];
    const tap = await a.tap('back', producer.producerId, (rtp) => received.push(Buffer.from(rtp)));
    const stop = feed((rtp) => void child.call('send', producer.producerId, rtp.toString('base64')), 4444);
    try {
      await until(() => received.length >= 30);
      const requests = () => child.events.filter((e) => e.event === 'rtcp' && e.producerId === producer.producerId)
        .reduce((n, e) => n + keyFrameRequests(Buffer.from(e.data!, 'base64')), 0);
      const before = requests();
      await tap.requestKeyFrame();
      await until(() => requests() > before);
    } finally {
      stop();
      tap();
    }
    // The child's room closing closes its pipe; the producer it piped here ends with it.
    await child.call('closeRoom', 'back');
    await until(() => a.producers('back').length === 0);
  });
});
