/**
 * Calls that survive the network: two Chromiums with relay-only ICE through coturn, behind a seeded user-space
 * impairment (test/e2e/impair.ts; this kernel has no netem). A blackout of the link makes both sides say
 * "Reconnecting…", restart ICE over the sealed channel and carry on with the same key, the same emoji and the same
 * seq counters (no replay-window confusion, no authentication failure); a link that stays down ends the call with
 * `connection-lost` on both sides; a lossy, jittery, reordering link keeps the call up and decoding.
 */

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { turnCredentials } from '@mtcall/signaling/server';
import { haveTurnserver, startRelay, type RunningRelay } from '@mtcall/demo/dist-server/relay.js';
import type { RunningDemoServer } from '@mtcall/demo/dist-server/server.js';
import { both, harmfulDrops, launchChromium, openPeer, snapshot, startDemo, until, type Snapshot } from './harness.js';
import { ImpairedLink, type Impairment } from './impair.js';

let browser: Browser;
let relay: RunningRelay;
let link: ImpairedLink;
let server: RunningDemoServer;
const pages: Page[] = [];

beforeAll(async () => {
  if (!haveTurnserver()) throw new Error('coturn is missing: run scripts/setup.sh --browsers');
  browser = await launchChromium();
  relay = await startRelay();
});
afterAll(async () => {
  await browser?.close();
  await relay?.stop();
});
afterEach(async () => {
  for (const page of pages.splice(0)) await page.context().close();
  await server?.close();
  await link?.close();
});

/** alice calls bob, both relay-only through the impaired link in front of coturn. */
async function call(impairment: Partial<Impairment> = {}, params: Record<string, string | true> = {}, seed = 7): Promise<[Page, Page]> {
  link = await ImpairedLink.start({ host: '127.0.0.1', port: relay.port }, impairment, seed);
  server = await startDemo({
    iceServers: (userId, now) => [{ ...turnCredentials(relay.turn, userId, now), urls: [`turn:127.0.0.1:${link.port}?transport=udp`] }],
  });
  const bob = await openPeer(browser, server.url, { name: 'bob', autoaccept: true, relay: '1', ...params });
  pages.push(bob);
  await until(async () => server.signaling.core.stats.users, (n) => n >= 1, 'bob online', 30_000);
  const alice = await openPeer(browser, server.url, { name: 'alice', call: 'bob', relay: '1', ...params });
  pages.push(alice);
  return [alice, bob];
}

const decoded = (s: Snapshot) => s.inbound?.videoFramesDecoded ?? 0;
const flowing = ([a, b]: [Snapshot, Snapshot], frames: number) => decoded(a) >= frames && decoded(b) >= frames && a.security === 'media-protected' && b.security === 'media-protected';

describe('a media path that breaks', () => {
  it('a 6-second blackout: both sides reconnect by themselves (ICE restart), with the same key, emoji and seq counters', async () => {
    const [alice, bob] = await call();
    const [a0, b0] = await until(both(alice, bob), (s) => flowing(s, 30), 'media flowing through the relay');
    expect(a0.inbound!.candidateType).toBe('relay');
    link.blackout(true);
    await until(both(alice, bob), ([a, b]) => a.reconnecting === true && b.reconnecting === true, 'both sides reconnecting');
    // The outage itself is the scenario (not a wait for a condition): the link stays cut for 6 s, long enough for ICE
    // to be restarted (after 2 s) while nothing gets through.
    await new Promise((resolve) => setTimeout(resolve, 6000));
    link.blackout(false);
    const [a1, b1] = await until(both(alice, bob), ([a, b]) => (a.recoveries ?? 0) >= 1 && (b.recoveries ?? 0) >= 1 && decoded(a) > decoded(a0) + 30 && decoded(b) > decoded(b0) + 30, 'recovered and decoding again', 90_000);
    console.log(`blackout 6 s: recovered after ${a1.lastDownForMs} / ${b1.lastDownForMs} ms down, ICE restarts ${a1.iceRestarts} / ${b1.iceRestarts}; packets dropped by the blackout ${link.stats.blackedOut}`);
    for (const [before, after] of [[a0, a1], [b0, b1]] as const) {
      expect(after.emoji).toEqual(before.emoji); // the same key: no new DH
      expect(after.security).toBe('media-protected');
      expect(after.transport!.dropped.auth).toBe(0);
      expect(harmfulDrops(after) - harmfulDrops(before)).toBeLessThanOrEqual(5); // 'too-old' stragglers at most
      expect(after.transport!.opened.frames).toBeGreaterThan(before.transport!.opened.frames);
      expect(after.endReason).toBeUndefined();
    }
  });

  it('a link that stays down: after the configured time both sides end the call with connection-lost, in words', async () => {
    const [alice, bob] = await call({}, { giveUpMs: '6000' });
    await until(both(alice, bob), (s) => flowing(s, 20), 'media flowing through the relay');
    link.blackout(true);
    const [a, b] = await until(both(alice, bob), ([x, y]) => x.endReason !== undefined && y.endReason !== undefined, 'the call to end on both sides', 90_000);
    expect(a.endReason).toBe('connection-lost');
    expect(b.endReason).toBe('connection-lost');
    for (const s of [a, b]) expect(s.status).toContain('Connection lost');
  });
});

const concealed = (s: Snapshot) => (s.inbound?.audioSamplesReceived ? (s.inbound.audioConcealedSamples ?? 0) / s.inbound.audioSamplesReceived : 0);

describe('a lossy link', () => {
  it('10 % loss with bursts, 150 ms RTT, 30 ms jitter, reordering and duplicates: the call stays up and decodes; no authentication failure', async () => {
    const [alice, bob] = await call({ loss: 0.1, burstStart: 0.01, burstLength: 4, delayMs: 37, jitterMs: 30, reorder: 0.02, reorderMs: 40, duplicate: 0.01 });
    const [a0, b0] = await until(both(alice, bob), (s) => flowing(s, 20), 'media flowing over the lossy link', 120_000);
    const [a, b] = await until(both(alice, bob), ([x, y]) => decoded(x) > decoded(a0) + 60 && decoded(y) > decoded(b0) + 60, 'decoding keeps going', 120_000);
    console.log(`lossy link: audio concealed ${(concealed(a) * 100).toFixed(1)} % / ${(concealed(b) * 100).toFixed(1)} %; ${link.stats.dropped} packets dropped, ${link.stats.duplicated} duplicated of ${link.stats.forwarded} forwarded; frames opened ${a.transport!.opened.frames}/${b.transport!.opened.frames}, drops ${JSON.stringify(a.transport!.dropped)} / ${JSON.stringify(b.transport!.dropped)}`);
    expect(link.stats.dropped).toBeGreaterThan(0);
    for (const s of [a, b]) {
      expect(s.endReason).toBeUndefined();
      expect(s.transport!.dropped.auth).toBe(0); // loss shows up as missing frames, never as forgeries
      expect(s.security).toBe('media-protected');
      expect(s.emoji).toEqual(a.emoji);
    }
  }, 240_000);

  // The matrix of issue 14 (loss × RTT, with jitter and reordering), for docs/PERFORMANCE.md: MTCALL_NETWORK_MATRIX=1.
  const MATRIX: [number, number][] = [[0.05, 150], [0.1, 150], [0.2, 150], [0.05, 300], [0.1, 300], [0.2, 300]];
  it.runIf(process.env['MTCALL_NETWORK_MATRIX'] === '1').each(MATRIX)('matrix: loss %s, RTT %s ms, jitter 30 ms, 2 in 100 packets reordered', async (loss, rtt) => {
    const [alice, bob] = await call({ loss, delayMs: rtt / 4, jitterMs: 30, reorder: 0.02, reorderMs: 40 }, {}, 11);
    const [a0, b0] = await until(both(alice, bob), (s) => flowing(s, 10), 'media flowing', 120_000);
    const start = Date.now();
    const [a, b] = await until(both(alice, bob), ([x, y]) => decoded(x) > decoded(a0) + 100 && decoded(y) > decoded(b0) + 100, 'decoding keeps going', 180_000);
    const seconds = (Date.now() - start) / 1000;
    console.log(`MATRIX loss=${loss} rtt=${rtt}: video ${((decoded(a) - decoded(a0)) / seconds).toFixed(1)}/${((decoded(b) - decoded(b0)) / seconds).toFixed(1)} fps decoded, audio concealed ${(concealed(a) * 100).toFixed(1)}/${(concealed(b) * 100).toFixed(1)} %, auth drops ${a.transport!.dropped.auth}/${b.transport!.dropped.auth}, too-old ${a.transport!.dropped['too-old']}/${b.transport!.dropped['too-old']}`);
    for (const s of [a, b]) {
      expect(s.endReason).toBeUndefined();
      expect(s.transport!.dropped.auth).toBe(0);
    }
  }, 300_000);
});
