import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sfu, SfuError } from './index.js';

// A producer's RTP parameters as a browser would send them for Opus (one encoding, one SSRC).
const opus = (ssrc: number) => ({
  mid: '0',
  codecs: [{ mimeType: 'audio/opus', payloadType: 111, clockRate: 48000, channels: 2, parameters: { useinbandfec: 1 }, rtcpFeedback: [] }],
  headerExtensions: [],
  encodings: [{ ssrc }],
  rtcp: { cname: `member-${ssrc}`, reducedSize: true },
});

/** Waits until `done` holds (the test's timeout bounds it). */
async function until(done: () => boolean): Promise<void> {
  while (!done()) await new Promise((r) => setTimeout(r, 10));
}

describe('Sfu (a real mediasoup 3.12.16 worker built by scripts/setup-sfu.sh)', () => {
  let sfu: Sfu;
  beforeAll(async () => {
    sfu = await Sfu.start({ workers: 2, maxMembersPerRouter: 1 });
  });
  afterAll(() => sfu?.close());

  it('gives each room a router, spreads members over workers, and pipes producers between the routers', async () => {
    const caps = await sfu.routerCapabilities('r1');
    expect(caps.codecs?.map((c) => c.mimeType)).toEqual(expect.arrayContaining(['audio/opus', 'video/VP8', 'video/H264']));
    await sfu.addMember('r1', 1);
    await sfu.addMember('r1', 2);
    const routers = sfu.roomRouters('r1');
    expect(routers).toHaveLength(2);
    expect(new Set(routers.map((r) => r.worker)).size).toBe(2);

    const send = await sfu.createTransport('r1', 1, 'send');
    expect(send.iceCandidates[0]?.ip).toBe('127.0.0.1');
    expect(send.dtlsParameters.fingerprints.length).toBeGreaterThan(0);
    const produced = await sfu.produce('r1', 1, send.transportId, 'audio', opus(1111), 'audio');
    expect(produced).toMatchObject({ memberId: 1, kind: 'audio', source: 'audio' });
    expect(sfu.producers('r1')).toEqual([produced]);

    const recv = await sfu.createTransport('r1', 2, 'recv');
    const consumed = await sfu.consume('r1', 2, recv.transportId, produced.producerId, caps);
    expect(consumed).toMatchObject({ producerId: produced.producerId, kind: 'audio' });
    expect(consumed.rtpParameters.codecs[0]?.mimeType).toBe('audio/opus');
    await sfu.resumeConsumer('r1', 2, consumed.consumerId);
  });

  it('a member pauses and resumes its own producer (its consumers on other routers follow through the pipe); nobody else can', async () => {
    const code = async (p: Promise<unknown>) => p.then(() => 'ok', (e: unknown) => (e instanceof SfuError ? e.code : String(e)));
    await sfu.addMember('r3', 1);
    await sfu.addMember('r3', 2);
    const send = await sfu.createTransport('r3', 1, 'send');
    const produced = await sfu.produce('r3', 1, send.transportId, 'audio', opus(4444), 'audio');
    expect(produced.paused).toBe(false);
    const recv = await sfu.createTransport('r3', 2, 'recv');
    const consumed = await sfu.consume('r3', 2, recv.transportId, produced.producerId, await sfu.routerCapabilities('r3'));
    await sfu.resumeConsumer('r3', 2, consumed.consumerId);
    expect(await code(sfu.pauseProducer('r3', 2, produced.producerId, true))).toBe('unknown-producer');
    expect(await code(sfu.pauseProducer('r3', 1, 'nope', true))).toBe('unknown-producer');
    expect(sfu.producers('r3')[0]!.paused).toBe(false);
    expect(await sfu.pauseProducer('r3', 1, produced.producerId, true)).toEqual({ ...produced, paused: true });
    expect(sfu.producers('r3')[0]!.paused).toBe(true);
    // The pipe carries the pause to the consumer on member 2's router (another worker): mediasoup tells it asynchronously.
    const consumerPaused = () => sfu.consumerState('r3', 2, consumed.consumerId).producerPaused;
    await until(() => consumerPaused());
    expect(await sfu.pauseProducer('r3', 1, produced.producerId, false)).toEqual({ ...produced, paused: false });
    await until(() => !consumerPaused());
    expect(sfu.consumerState('r3', 2, consumed.consumerId)).toEqual({ paused: false, producerPaused: false });
    sfu.closeRoom('r3');
  });

  it('a member acts only on what it owns, with named errors', async () => {
    await sfu.addMember('r2', 1);
    await sfu.addMember('r2', 2);
    const a = await sfu.createTransport('r2', 1, 'send');
    const b = await sfu.createTransport('r2', 2, 'recv');
    const code = async (p: Promise<unknown>) => p.then(() => 'ok', (e: unknown) => (e instanceof SfuError ? e.code : String(e)));
    expect(await code(sfu.produce('r2', 2, a.transportId, 'audio', opus(2222), 'audio'))).toBe('unknown-transport');
    expect(await code(sfu.produce('r2', 2, b.transportId, 'audio', opus(2222), 'audio'))).toBe('wrong-direction');
    expect(await code(sfu.produce('r2', 1, a.transportId, 'audio', { ...opus(1), codecs: [] }, 'audio'))).toBe('bad-parameters');
    const p = await sfu.produce('r2', 1, a.transportId, 'audio', opus(3333), 'audio');
    expect(await code(sfu.consume('r2', 1, a.transportId, p.producerId, await sfu.routerCapabilities('r2')))).toBe('wrong-direction');
    expect(await code(sfu.consume('r2', 2, b.transportId, 'nope', await sfu.routerCapabilities('r2')))).toBe('unknown-producer');
    expect(await code(sfu.consume('r2', 2, b.transportId, p.producerId, { codecs: [] }))).toBe('cannot-consume');
    expect(await code(sfu.resumeConsumer('r2', 2, 'nope'))).toBe('unknown-consumer');
    expect(await code(sfu.createTransport('nope', 1, 'send'))).toBe('unknown-room');
    expect(await code(sfu.createTransport('r2', 9, 'send'))).toBe('not-in-room');
    expect(() => sfu.closeProducer('r2', 2, p.producerId)).toThrow(SfuError);
    // Leaving closes the member's producers.
    expect(sfu.removeMember('r2', 1)).toEqual([p.producerId]);
    expect(sfu.producers('r2')).toEqual([]);
    sfu.closeRoom('r2');
    expect(sfu.memberCount('r2')).toBe(0);
  });

  it('reports each worker\'s pid, routers and CPU time', async () => {
    const stats = await sfu.workerStats();
    expect(stats).toHaveLength(2);
    expect(stats.every((s) => s.pid > 0 && s.cpuMs >= 0)).toBe(true);
  });
});

describe('Sfu: several members of one router consuming a producer of another router at once', () => {
  it('pipes the producer once and serves them all', async () => {
    const sfu = await Sfu.start({ workers: 2, maxMembersPerRouter: 2 });
    try {
      for (const id of [1, 2, 3]) await sfu.addMember('p', id);
      const routers = sfu.roomRouters('p');
      expect(routers.map((r) => r.members)).toEqual([2, 1]);
      const send = await sfu.createTransport('p', 3, 'send');
      const produced = await sfu.produce('p', 3, send.transportId, 'audio', opus(5555), 'audio');
      const caps = await sfu.routerCapabilities('p');
      const recvs = await Promise.all([1, 2].map((id) => sfu.createTransport('p', id, 'recv')));
      const consumed = await Promise.all([1, 2].map((id, i) => sfu.consume('p', id, recvs[i]!.transportId, produced.producerId, caps)));
      expect(consumed.map((c) => c.producerId)).toEqual([produced.producerId, produced.producerId]);
    } finally {
      sfu.close();
    }
  });
});
