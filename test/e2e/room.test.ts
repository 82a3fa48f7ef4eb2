/**
 * Rooms end to end (issue 13): Chromium members in one room through the real SFU on loopback. Every member decodes
 * every other member's video and audio; everyone shows the same room code; the SFU forwards ciphertext only (a tap
 * on the server finds none of the plaintext samples); a join and a leave each change the epoch (the gap in decoded
 * video is measured); the leaver held none of the epochs sent after it left; a man-in-the-middle server makes the
 * victim's code differ and tells it.
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { Sfu } from '@mtcall/sfu';
import { DEFAULT_DH_CONFIG, MitmRelay } from '@mtcall/signaling/server';
import { largestGap, launchRoomChromium, openMember, snap, startRoomServer, waitFor, type RoomServer, type RoomSnapshot } from './room-harness.js';

let browser: Browser;
let sfu: Sfu;
beforeAll(async () => {
  browser = await launchRoomChromium();
  sfu = await Sfu.start({ workers: 2, maxMembersPerRouter: 2 });
});
afterAll(async () => {
  await browser?.close();
  sfu?.close();
});

const currentCode = (s: RoomSnapshot) => s.codes.find((c) => c.epoch === s.epoch?.held)?.emoji;
const framesFrom = (s: RoomSnapshot, memberId: number) => s.frames[`${memberId}/video`]?.length ?? 0;
const energyFrom = (s: RoomSnapshot, memberId: number) => s.energy[`${memberId}/audio`] ?? 0;

/** Every page decodes video (≥ `frames` frames) and hears audio from every other member, and all hold one epoch and code. */
function settled(snaps: RoomSnapshot[], frames = 15): boolean {
  const ids = snaps.map((s) => s.memberId!);
  const epochs = new Set(snaps.map((s) => s.epoch?.sending));
  const codes = new Set(snaps.map(currentCode));
  return (
    snaps.every((s) => s.joined && !s.error) &&
    epochs.size === 1 && codes.size === 1 && !codes.has(undefined) &&
    snaps.every((s) => ids.every((id) => id === s.memberId || (framesFrom(s, id) >= frames && energyFrom(s, id) > 0.001)))
  );
}

describe('a room of three Chromium members through the SFU', () => {
  let server: RoomServer;
  const pages: Page[] = [];
  const all = () => Promise.all(pages.map(snap));

  beforeAll(async () => {
    server = await startRoomServer({}, sfu);
  });
  afterAll(async () => {
    for (const p of pages) await p.context().close();
    await server?.close();
  });

  it('every member decodes every other member\'s video and audio; the same room code everywhere; nothing fails', async () => {
    for (const user of ['alice', 'bob', 'carol']) {
      pages.push(await openMember(browser, server, user, 'standup'));
      await waitFor(() => snap(pages.at(-1)!), (s) => s.joined || s.error !== null);
    }
    const snaps = await waitFor(all, (s) => settled(s));
    console.log('room of 3:', snaps.map((s) => ({ member: s.memberId, code: currentCode(s), epoch: s.epoch, frames: Object.fromEntries(Object.entries(s.frames).map(([k, v]) => [k, v.length])), energy: s.energy, opened: s.stats?.openedBySender, dropped: s.stats?.dropped })));
    for (const s of snaps) {
      expect(s.warnings).toEqual([]);
      expect(s.stats!.dropped['auth']).toBe(0);
      expect(s.stats!.dropped['wrong-sender']).toBe(0);
      expect(s.security).toBe('media-protected');
    }
    // The room spans two routers on two workers (two members each): pipeToRouter carried the media between them.
    expect(server.sfu.roomRouters('standup').length).toBe(2);
  });

  it('the SFU forwards ciphertext only: a tap on the server finds none of the senders\' plaintext samples', async () => {
    const producers = server.sfu.producers('standup');
    expect(producers.length).toBe(6);
    const packets: Buffer[] = [];
    const stops = await Promise.all(producers.map((p) => server.sfu.tap('standup', p.producerId, (rtp) => packets.length < 20_000 && packets.push(Buffer.from(rtp)))));
    const before = await all();
    const samples = before.flatMap((s) => s.stats?.plaintextSamples ?? []);
    await waitFor(async () => packets.length, (n) => n >= 600);
    for (const stop of stops) stop();
    const haystack = Buffer.concat(packets).toString('hex');
    const found = samples.filter((sample) => haystack.includes(sample));
    console.log(`SFU tap: ${packets.length} RTP packets (${Buffer.concat(packets).length} bytes), ${samples.length} plaintext samples searched, ${found.length} found`);
    expect(samples.length).toBeGreaterThanOrEqual(16);
    expect(found).toEqual([]);
    expect(before.every((s) => (s.stats?.ciphertextDiffers ?? 0) >= s.stats!.sealed.frames - 5)).toBe(true);
  });

  it('a fourth member joins: a new epoch for everyone, media resumes (gap measured), the joiner held nothing older', async () => {
    const old = await all();
    const oldEpoch = old[0]!.epoch!.sending;
    pages.push(await openMember(browser, server, 'dave', 'standup'));
    const snaps = await waitFor(all, (s) => settled(s, 10) && s[0]!.epoch!.sending > oldEpoch);
    const dave = snaps[3]!;
    expect(dave.stats!.epochs.every((e) => e > oldEpoch)).toBe(true);
    expect(Object.keys(dave.stats!.openedByEpoch).map(Number).every((e) => e > oldEpoch)).toBe(true);
    // The gap: on each earlier member, the longest pause in each other earlier member's decoded video around its switch.
    // Compared with the same receivers' largest gap in the 4 s before (the machine's normal jitter).
    const gaps: number[] = [];
    const baseline: number[] = [];
    for (const s of snaps.slice(0, 3)) {
      const switched = s.events.find((e) => e.event === 'switched' && (e.value as { epoch: number }).epoch > oldEpoch)!.t;
      for (const other of snaps.slice(0, 3)) {
        if (other === s) continue;
        gaps.push(largestGap(s.frames[`${other.memberId}/video`]!, switched - 2000, switched + 2000));
        baseline.push(largestGap(s.frames[`${other.memberId}/video`]!, switched - 6000, switched - 2000));
      }
    }
    console.log(`join rekey: epoch ${oldEpoch} → ${snaps[0]!.epoch!.sending}; largest gap between decoded video frames within ±2 s of the switch, per receiver/sender (ms): ${gaps.join(', ')}; in the 4 s before: ${baseline.join(', ')}; dropped as unknown-epoch during this join: ${snaps.slice(0, 3).map((s, i) => s.stats!.dropped['unknown-epoch'] - old[i]!.stats!.dropped['unknown-epoch']).join(', ')} (before it: ${old.slice(0, 3).map((s) => s.stats!.dropped['unknown-epoch']).join(', ')})`);
    // No stall beyond the machine's own jitter: under 1 s, or under twice the largest gap before the switch when the
    // loaded machine already stalled that long (seen: 1324 ms around the switch against 1264 ms before it).
    expect(Math.max(...gaps)).toBeLessThan(Math.max(1000, 2 * Math.max(...baseline)));
    // This rekey made no earlier member drop a frame for want of its key. (The counters are cumulative: the last of
    // them to join may have dropped frames of the epoch before its own join, which it never held — as it should.)
    snaps.slice(0, 3).forEach((s, i) => expect(s.stats!.dropped['unknown-epoch']).toBe(old[i]!.stats!.dropped['unknown-epoch']));
    expect(new Set(snaps.map(currentCode)).size).toBe(1);
  });

  it('a member leaves: a new epoch without it; everything sent after it left is sealed under epochs it never held', async () => {
    const leaver = pages[2]!;
    const beforeLeave = await snap(leaver);
    const leaverEpochs = beforeLeave.stats!.epochs;
    const leaverId = beforeLeave.memberId!;
    await leaver.evaluate(() => (window as unknown as { room: { leave(): Promise<void> } }).room.leave());
    pages.splice(2, 1);
    const snaps = await waitFor(all, (s) => settled(s, 10) && s.every((x) => x.epoch!.sending > Math.max(...leaverEpochs)));
    // Feed the later packets: tap every producer after the switch and read each frame's epoch (in its clear trailer).
    const epochs = new Set<number>();
    const producers = server.sfu.producers('standup').filter((p) => p.kind === 'audio');
    const stops = await Promise.all(producers.map((p) => server.sfu.tap('standup', p.producerId, (rtp) => {
      const payload = rtpPayload(rtp);
      if (payload && payload.length > 10 && (payload[payload.length - 1]! & 0xf0) === 0xd0) epochs.add(payload.readUInt32BE(payload.length - 9));
    })));
    let seen = 0;
    const counted = await Promise.all(producers.map((p) => server.sfu.tap('standup', p.producerId, () => seen++)));
    await waitFor(async () => ({ n: epochs.size, seen }), (v) => v.n >= 1 && v.seen >= 100);
    for (const stop of counted) stop();
    for (const stop of stops) stop();
    console.log(`leave rekey: the leaver (member ${leaverId}) held epochs ${leaverEpochs.join(',')}; frames after it left carry epochs ${[...epochs].join(',')}`);
    for (const e of epochs) expect(leaverEpochs).not.toContain(e);
    expect(snaps.every((s) => s.events.some((e) => e.event === 'members' && (e.value as { left?: number }).left === leaverId))).toBe(true);
    await leaver.context().close();
  });
});

describe('a man-in-the-middle server in a room', () => {
  it('the victim\'s own check fails and it is told; its room code differs from the others\'', async () => {
    const server = await startRoomServer({ relay: new MitmRelay(DEFAULT_DH_CONFIG, { victim: (x) => x.room !== undefined && x.calleeId === 'victim' }) }, sfu);
    const pages: Page[] = [];
    try {
      for (const user of ['alice', 'bob', 'victim']) {
        pages.push(await openMember(browser, server, user, 'attacked'));
        await waitFor(() => snap(pages.at(-1)!), (s) => s.joined || s.error !== null);
      }
      const snaps = await waitFor(() => Promise.all(pages.map(snap)), (s) => s.every((x) => currentCode(x) !== undefined && x.epoch!.held >= 3 || x.warnings.length > 0) && s.every((x) => currentCode(x) !== undefined));
      const [alice, bob, victim] = snaps as [RoomSnapshot, RoomSnapshot, RoomSnapshot];
      console.log('mitm room:', snaps.map((s) => ({ member: s.memberId, code: currentCode(s), warnings: s.warnings.map((w) => w.code), security: s.security })));
      expect(victim.warnings.map((w) => w.code)).toContain('own-entry-mismatch');
      expect(victim.security).toBe('keys-differ');
      expect(alice.warnings).toEqual([]);
      expect(bob.warnings).toEqual([]);
      expect(currentCode(alice)).toBe(currentCode(bob));
      expect(currentCode(victim)).not.toBe(currentCode(alice));
    } finally {
      for (const p of pages) await p.context().close();
      await server.close();
    }
  });
});

/** The payload of an RTP packet (after the header, CSRCs and extensions; padding removed). */
function rtpPayload(packet: Buffer): Buffer | undefined {
  if (packet.length < 12) return undefined;
  let offset = 12 + (packet[0]! & 0x0f) * 4;
  if (packet[0]! & 0x10) {
    if (packet.length < offset + 4) return undefined;
    offset += 4 + packet.readUInt16BE(offset + 2) * 4;
  }
  let end = packet.length;
  if (packet[0]! & 0x20) end -= packet[packet.length - 1]!;
  return offset <= end ? packet.subarray(offset, end) : undefined;
}
