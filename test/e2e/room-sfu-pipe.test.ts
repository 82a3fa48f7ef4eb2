/**
 * A room whose two Chromium members sit on two SFU nodes (each `Sfu` with its own mediasoup worker), joined by a
 * PipeTransport pair and the peer control link (`SfuGroup`: the path used between SFU processes and hosts, not
 * `pipeToRouter`). Each member decodes the other's video and audio through the pipe; a tap on the far node — the
 * node that only received a producer through the pipe — finds none of the sender's plaintext samples.
 * (The pipe between two OS processes is tested in packages/sfu/src/sfu-peer.test.ts.)
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { Sfu, SfuGroup } from '@mtcall/sfu';
import { launchRoomChromium, openMember, snap, startRoomServer, waitFor, type RoomServer, type RoomSnapshot } from './room-harness.js';

let browser: Browser;
let group: SfuGroup;
let server: RoomServer;
const pages: Page[] = [];
const all = () => Promise.all(pages.map(snap));

beforeAll(async () => {
  browser = await launchRoomChromium();
  // Odd members on node a, even ones on node b.
  group = new SfuGroup({ a: await Sfu.start({ workers: 1 }), b: await Sfu.start({ workers: 1 }) }, (_room, memberId) => (memberId % 2 === 1 ? 'a' : 'b'));
  server = await startRoomServer({ rooms: { media: group } }, group.node('a')); // the group, not node a, serves the rooms
});
afterAll(async () => {
  for (const p of pages) await p.context().close();
  await server?.close();
  await browser?.close();
  group?.close();
});

const framesFrom = (s: RoomSnapshot, memberId: number) => s.frames[`${memberId}/video`]?.length ?? 0;
const energyFrom = (s: RoomSnapshot, memberId: number) => s.energy[`${memberId}/audio`] ?? 0;

describe('a room across two SFU nodes joined by a pipe', () => {
  it('each member decodes the other through the pipe; the far node\'s tap finds no plaintext', async () => {
    for (const user of ['alice', 'bob']) {
      pages.push(await openMember(browser, server, user, 'piped'));
      await waitFor(() => snap(pages.at(-1)!), (s) => s.joined || s.error !== null);
    }
    const snaps = await waitFor(all, (s) => s.every((x) => x.joined && !x.error) && s.every((x) => s.every((y) => y.memberId === x.memberId || (framesFrom(x, y.memberId!) >= 15 && energyFrom(x, y.memberId!) > 0.001))));
    const [alice, bob] = snaps as [RoomSnapshot, RoomSnapshot];
    const homes = [group.homeOf('piped', alice.memberId!), group.homeOf('piped', bob.memberId!)];
    console.log('room across two SFU nodes:', snaps.map((s) => ({ member: s.memberId, frames: Object.fromEntries(Object.entries(s.frames).map(([k, v]) => [k, v.length])), energy: s.energy })), homes);
    expect(new Set(homes).size).toBe(2);
    for (const s of snaps) {
      expect(s.warnings).toEqual([]);
      expect(s.security).toBe('media-protected');
    }

    // Alice's producers reached Bob's node only through the pipe: tap them there.
    const far = group.node(homes[1]!);
    const piped = far.producers('piped').filter((p) => p.memberId === alice.memberId);
    expect(piped.length).toBe(2);
    const packets: Buffer[] = [];
    const stops = await Promise.all(piped.map((p) => far.tap('piped', p.producerId, (rtp) => packets.length < 20_000 && packets.push(Buffer.from(rtp)))));
    const samples = (await snap(pages[0]!)).stats?.plaintextSamples ?? [];
    await waitFor(async () => packets.length, (n) => n >= 300);
    for (const stop of stops) stop();
    const haystack = Buffer.concat(packets).toString('hex');
    const found = samples.filter((sample) => haystack.includes(sample));
    console.log(`far-node tap: ${packets.length} RTP packets, ${samples.length} plaintext samples searched, ${found.length} found`);
    expect(samples.length).toBeGreaterThanOrEqual(8);
    expect(found).toEqual([]);
  });
});
