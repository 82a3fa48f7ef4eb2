/**
 * Rooms across browsers (issue 13): three Chromium members and one Firefox ESR member in one room through the real
 * SFU on loopback. Every member decodes every other member's video and hears its audio — Firefox through
 * `RTCRtpScriptTransform`, Chromium through `createEncodedStreams` — all hold the same epoch and room code, and no
 * frame fails authentication. Playwright cannot drive Debian's Firefox: its page joins from its URL and posts its
 * snapshots to the test server (`?report=1`); its profile grants the page camera and microphone so that its
 * receive transport gathers the loopback address before the camera starts (../shared/SFU-FACTS.md).
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { launchFirefox, type FirefoxPage } from './harness.js';
import { launchRoomChromium, memberUrl, openMember, snap, startRoomServer, waitFor, type RoomServer, type RoomSnapshot } from './room-harness.js';

let browser: Browser;
let server: RoomServer;
let firefox: FirefoxPage | undefined;
const pages: Page[] = [];

beforeAll(async () => {
  browser = await launchRoomChromium();
  server = await startRoomServer();
});
afterAll(async () => {
  for (const p of pages) await p.context().close();
  await firefox?.close();
  await browser?.close();
  await server?.close();
});

const currentCode = (s: RoomSnapshot) => s.codes.find((c) => c.epoch === s.epoch?.held)?.emoji;
const framesFrom = (s: RoomSnapshot, memberId: number) => s.frames[`${memberId}/video`]?.length ?? 0;
const energyFrom = (s: RoomSnapshot, memberId: number) => s.energy[`${memberId}/audio`] ?? 0;
const noReport: RoomSnapshot = { joined: false, left: false, error: null, events: [], tracks: [], frames: {}, energy: {}, codes: [], warnings: [], stats: null };
const foxReport = async () => server.reports.get('fox') ?? noReport;

/** Every page decodes ≥ 20 video frames and hears audio from every other member; one epoch and one code everywhere. */
function settled(snaps: RoomSnapshot[]): boolean {
  const ids = snaps.map((s) => s.memberId!);
  const epochs = new Set(snaps.map((s) => s.epoch?.sending));
  const codes = new Set(snaps.map(currentCode));
  return (
    snaps.every((s) => s.joined && !s.error) &&
    epochs.size === 1 && codes.size === 1 && !codes.has(undefined) &&
    snaps.every((s) => ids.every((id) => id === s.memberId || (framesFrom(s, id) >= 20 && energyFrom(s, id) > 0.001)))
  );
}

describe('three Chromium members and one Firefox ESR member in a room', () => {
  it('every member decodes every other member\'s video and audio; one room code and epoch; no authentication drops', async () => {
    pages.push(await openMember(browser, server, 'alice', 'mixed'));
    await waitFor(() => snap(pages[0]!), (s) => s.joined || s.error !== null);
    firefox = await launchFirefox(memberUrl(server, 'fox', 'mixed', true), { grant: true });
    await waitFor(foxReport, (s) => s.joined || s.error !== null);
    for (const user of ['bob', 'carol']) {
      pages.push(await openMember(browser, server, user, 'mixed'));
      await waitFor(() => snap(pages.at(-1)!), (s) => s.joined || s.error !== null);
    }
    const all = async () => [...(await Promise.all(pages.map(snap))), await foxReport()];
    const snaps = await waitFor(all, settled);
    const fox = snaps[3]!;
    const summary = snaps.map((s) => ({
      member: s.memberId, browser: /Firefox/.test(s.userAgent ?? '') ? 'firefox' : 'chromium', mode: s.mode, code: currentCode(s), epoch: s.epoch,
      frames: Object.fromEntries(Object.entries(s.frames).map(([k, v]) => [k, v.length])), opened: s.stats?.openedBySender, dropped: s.stats?.dropped,
    }));
    console.log('room of 3 Chromium + 1 Firefox:', JSON.stringify(summary));
    console.log(`Firefox (member ${fox.memberId}) decoded video frames per sender: ${Object.entries(fox.frames).map(([k, v]) => `${k}: ${v.length}`).join(', ')}; sealed ${fox.stats?.sealed.frames}, opened ${fox.stats?.opened.frames}`);
    expect(fox.userAgent).toMatch(/Firefox/);
    expect(fox.mode).toBe('script-transform');
    for (const s of snaps.slice(0, 3)) expect(s.mode).toBe('encoded-streams');
    for (const s of snaps) {
      expect(s.warnings).toEqual([]);
      expect(s.stats!.dropped['auth']).toBe(0);
      expect(s.stats!.dropped['wrong-sender']).toBe(0);
      expect(s.security).toBe('media-protected');
      // Every other member's frames opened here, under the sender the SFU named.
      for (const other of snaps) if (other !== s) expect(s.stats!.openedBySender[String(other.memberId)] ?? 0).toBeGreaterThan(0);
    }
  });
});
