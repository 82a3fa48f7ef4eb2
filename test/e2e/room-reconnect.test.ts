/**
 * Room membership across a signaling reconnect: a member's WebSocket is cut (its media path through the SFU is not);
 * the SDK reconnects and resumes, the server hands it its parked membership back — the same member number, no leave
 * and no rekey seen by the others — and media flows both ways throughout.
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { launchRoomChromium, openMember, snap, startRoomServer, waitFor, type RoomServer, type RoomSnapshot } from './room-harness.js';

let browser: Browser;
let server: RoomServer;
const pages: Page[] = [];

beforeAll(async () => {
  browser = await launchRoomChromium();
  server = await startRoomServer();
});
afterAll(async () => {
  for (const p of pages) await p.context().close();
  await browser?.close();
  await server?.close();
});

const frames = (s: RoomSnapshot, memberId: number) => s.frames[`${memberId}/video`]?.length ?? 0;
const codeOf = (s: RoomSnapshot) => s.codes.find((c) => c.epoch === s.epoch?.held)?.emoji;
const reconnecting = (page: Page) => page.evaluate(() => (window as unknown as { room: { reconnecting: boolean } }).room.reconnecting);

describe('a room member whose signaling connection drops', () => {
  it('resumes as the same member: nobody sees it leave, no rekey, media flows on both ways', async () => {
    for (const user of ['alice', 'bob']) {
      pages.push(await openMember(browser, server, user, 'again'));
      await waitFor(() => snap(pages.at(-1)!), (s) => s.joined || s.error !== null);
    }
    const all = () => Promise.all(pages.map(snap));
    const [a0, b0] = await waitFor(all, ([a, b]) => frames(a!, b!.memberId!) >= 15 && frames(b!, a!.memberId!) >= 15 && codeOf(a!) !== undefined && codeOf(a!) === codeOf(b!));
    expect(a0!.error).toBeNull();
    // bob (not the distributor) loses his WebSocket.
    server.dropSignaling('bob');
    const [a1, b1] = await waitFor(all, ([, b]) => b!.events.some((e) => e.event === 'resumed'));
    expect(await reconnecting(pages[1]!)).toBe(false);
    const [a2, b2] = await waitFor(all, ([a, b]) => frames(a!, b1!.memberId!) >= frames(a1!, b1!.memberId!) + 15 && frames(b!, a1!.memberId!) >= frames(b1!, a1!.memberId!) + 15);
    console.log(`signaling reconnect: bob is member ${b2!.memberId} before and after; epoch ${a0!.epoch!.sending} → ${a2!.epoch!.sending} / ${b0!.epoch!.sending} → ${b2!.epoch!.sending}; frames of each other decoded ${frames(a2!, b2!.memberId!)} / ${frames(b2!, a2!.memberId!)}; room code ${codeOf(a2!)}`);
    expect(b2!.memberId).toBe(b0!.memberId);
    expect(b2!.left).toBe(false);
    expect(a2!.events.some((e) => e.event === 'members' && (e.value as { left?: number }).left !== undefined)).toBe(false);
    expect(a2!.epoch).toEqual(a0!.epoch);
    expect(b2!.epoch).toEqual(b0!.epoch);
    expect(codeOf(b2!)).toBe(codeOf(a2!));
    for (const s of [a2!, b2!]) {
      expect(s.stats!.dropped['auth']).toBe(0);
      expect(s.security).toBe('media-protected');
      expect(s.warnings).toEqual([]);
    }
  });

  it('someone joins while it is away: on resuming it learns the new member and the new epoch\'s key (queued on its key exchange), and all three converge', async () => {
    const before = await Promise.all(pages.map(snap));
    server.holdSignaling('bob', true);
    server.dropSignaling('bob');
    await waitFor(() => reconnecting(pages[1]!), (r) => r);
    pages.push(await openMember(browser, server, 'carol', 'again'));
    // alice and carol settle on a new epoch while bob is away (the distributor switches without his ack after 3 s).
    await waitFor(() => Promise.all([snap(pages[0]!), snap(pages[2]!)]), ([a, c]) =>
      c.joined && a.epoch!.sending > before[0]!.epoch!.sending && a.epoch!.sending === c.epoch!.sending && frames(c, a.memberId!) >= 10 && frames(a, c.memberId!) >= 10);
    expect(await reconnecting(pages[1]!)).toBe(true);
    server.holdSignaling('bob', false);
    const all = () => Promise.all(pages.map(snap));
    const after = await waitFor(all, (s) => {
      const ids = s.map((x) => x.memberId!);
      return s[1]!.events.filter((e) => e.event === 'resumed').length >= 2 && new Set(s.map((x) => x.epoch?.sending)).size === 1 && new Set(s.map(codeOf)).size === 1 && !s.map(codeOf).includes(undefined) &&
        s.every((x) => ids.every((id) => id === x.memberId || frames(x, id) >= 10));
    });
    const [a, b, c] = after as [RoomSnapshot, RoomSnapshot, RoomSnapshot];
    console.log(`join while away: epoch ${before[0]!.epoch!.sending} → ${a.epoch!.sending}; bob (member ${b.memberId}) decoded carol's video: ${frames(b, c.memberId!)} frames; dropped by bob as unknown-epoch ${b.stats!.dropped['unknown-epoch']}; code ${codeOf(a)}`);
    expect(b.memberId).toBe(before[1]!.memberId);
    expect(b.events.some((e) => e.event === 'members' && (e.value as { joined?: number }).joined === c.memberId)).toBe(true);
    for (const s of after) {
      expect(s.stats!.dropped['auth']).toBe(0);
      expect(s.warnings).toEqual([]);
    }
  });
});
