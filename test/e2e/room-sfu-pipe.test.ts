/**
 * A room whose two Chromium members sit on two SFU processes: node 'a' is an `Sfu` of this process, node 'b' an `Sfu`
 * in a child process (sfu-node-child.mjs) driven through `RemoteSfu`; the two are joined by a PipeTransport pair whose
 * control exchange travels over the child's IPC channel (`ipcPeerLink`), and `SfuGroup` places odd members on 'b',
 * even ones on 'a'. Each member decodes the other's video and audio through the pipe; a tap on node 'a' — which holds
 * the child's member's producers only through the pipe — finds none of that sender's plaintext samples.
 */

import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { RemoteSfu, Sfu, SfuGroup, ipcPeerLink } from '@mtcall/sfu';
import { launchRoomChromium, openMember, snap, startRoomServer, waitFor, type RoomServer, type RoomSnapshot } from './room-harness.js';

let browser: Browser;
let local: Sfu;
let child: ChildProcess;
let group: SfuGroup;
let server: RoomServer;
const pages: Page[] = [];
const all = () => Promise.all(pages.map(snap));

beforeAll(async () => {
  browser = await launchRoomChromium();
  local = await Sfu.start({ workers: 1 });
  child = fork(fileURLToPath(new URL('./sfu-node-child.mjs', import.meta.url)), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...process.env, MTCALL_SFU_PEER: 'a' } });
  await new Promise<void>((ok, fail) => {
    child.once('message', () => ok());
    child.once('exit', (code) => fail(new Error(`the child SFU exited (${code}); build @mtcall/sfu first`)));
  });
  local.addPeer('b', ipcPeerLink(child));
  group = new SfuGroup({ a: local, b: new RemoteSfu(child) }, (_room, memberId) => (memberId % 2 === 1 ? 'b' : 'a'));
  server = await startRoomServer({ rooms: { media: group } }, local); // the group, not `local` alone, serves the rooms
});
afterAll(async () => {
  for (const p of pages) await p.context().close();
  await server?.close();
  await browser?.close();
  group?.close();
  if (child && child.exitCode === null) {
    const exited = new Promise((r) => child.once('exit', r));
    child.disconnect();
    await exited;
  }
});

const framesFrom = (s: RoomSnapshot, memberId: number) => s.frames[`${memberId}/video`]?.length ?? 0;
const energyFrom = (s: RoomSnapshot, memberId: number) => s.energy[`${memberId}/audio`] ?? 0;

describe('a room across two SFU processes joined by a pipe', () => {
  it('each member decodes the other through the pipe; a tap on the receiving SFU finds no plaintext', async () => {
    for (const user of ['alice', 'bob']) {
      pages.push(await openMember(browser, server, user, 'piped'));
      await waitFor(() => snap(pages.at(-1)!), (s) => s.joined || s.error !== null);
    }
    const snaps = await waitFor(all, (s) => s.every((x) => x.joined && !x.error) && s.every((x) => s.every((y) => y.memberId === x.memberId || (framesFrom(x, y.memberId!) >= 15 && energyFrom(x, y.memberId!) > 0.001))));
    const [alice, bob] = snaps as [RoomSnapshot, RoomSnapshot];
    const homes = [group.homeOf('piped', alice.memberId!), group.homeOf('piped', bob.memberId!)];
    console.log('room across two SFU processes:', snaps.map((s) => ({ member: s.memberId, frames: Object.fromEntries(Object.entries(s.frames).map(([k, v]) => [k, v.length])), energy: s.energy })), homes);
    expect(homes).toEqual(['b', 'a']);
    for (const s of snaps) {
      expect(s.warnings).toEqual([]);
      expect(s.security).toBe('media-protected');
    }

    // Alice's producers live in the child process; this process's SFU holds them only through the pipe.
    const piped = local.producers('piped').filter((p) => p.memberId === alice.memberId);
    expect(piped.length).toBe(2);
    const packets: Buffer[] = [];
    const stops = await Promise.all(piped.map((p) => local.tap('piped', p.producerId, (rtp) => packets.length < 20_000 && packets.push(Buffer.from(rtp)))));
    const samples = (await snap(pages[0]!)).stats?.plaintextSamples ?? [];
    await waitFor(async () => packets.length, (n) => n >= 300);
    for (const stop of stops) stop();
    const haystack = Buffer.concat(packets).toString('hex');
    const found = samples.filter((sample) => haystack.includes(sample));
    console.log(`tap on the receiving SFU: ${packets.length} RTP packets, ${samples.length} plaintext samples searched, ${found.length} found`);
    expect(samples.length).toBeGreaterThanOrEqual(8);
    expect(found).toEqual([]);
  });

  it('when the member on the child SFU leaves, its producers end on both SFUs', async () => {
    const aliceId = (await snap(pages[0]!)).memberId!;
    expect(local.producers('piped').filter((p) => p.memberId === aliceId)).toHaveLength(2);
    await pages[0]!.evaluate(() => (window as unknown as { room: { leave(): Promise<void> } }).room.leave());
    // The child closes them; the pipe's producer-state notices close their copies here.
    await waitFor(async () => local.producers('piped').filter((p) => p.memberId === aliceId).length, (n) => n === 0);
    expect(group.producers('piped').every((p) => p.memberId !== aliceId)).toBe(true);
    expect(group.homeOf('piped', aliceId)).toBeUndefined();
  });
});
