/**
 * Relay failover: two coturn relays, both handed to both Chromiums (relay-only ICE); mid-call the relay carrying the
 * media is killed (SIGTERM to its coturn) and the call moves to the other one by itself — same key and emoji, seq
 * counters carrying on, no authentication drops. Which relay carries the media is read from a counting UDP forwarder
 * in front of each (test/e2e/impair.ts with no impairment): the browsers reach the relays only through them.
 */

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { turnCredentials } from '@mtcall/signaling/server';
import { haveTurnserver, startRelay, type RunningRelay } from '@mtcall/demo/dist-server/relay.js';
import type { RunningDemoServer } from '@mtcall/demo/dist-server/server.js';
import { both, duplicateAllowance, duplicates, integrityDrops, launchChromium, openPeer, startDemo, until, type Snapshot } from './harness.js';
import { ImpairedLink } from './impair.js';

const installed = haveTurnserver();
if (!installed) console.warn('SKIPPED the relay failover test: coturn is not installed (bash scripts/setup.sh --browsers)');

const decoded = (s: Snapshot) => s.inbound?.videoFramesDecoded ?? 0;

describe.skipIf(!installed)('two TURN relays, the one carrying the call killed mid-call', () => {
  let browser: Browser;
  const relays: RunningRelay[] = [];
  const links: ImpairedLink[] = [];
  let server: RunningDemoServer;
  const pages: Page[] = [];

  beforeAll(async () => {
    browser = await launchChromium();
    for (let i = 0; i < 2; i++) {
      const relay = await startRelay();
      relays.push(relay);
      links.push(await ImpairedLink.start({ host: '127.0.0.1', port: relay.port }));
    }
    // Both relays, in the same order for everyone, each through its counting forwarder (same secret not needed:
    // each relay checks credentials made with its own).
    server = await startDemo({
      iceServers: (userId, now) => relays.map((relay, i) => ({ ...turnCredentials(relay.turn, userId, now), urls: [`turn:127.0.0.1:${links[i]!.port}?transport=udp`] })),
    });
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    for (const link of links) await link.close();
    for (const relay of relays) await relay.stop();
  });
  afterEach(async () => {
    for (const page of pages.splice(0)) await page.context().close();
  });

  it('ICE moves to the surviving relay by itself: media again, same emoji, seq carrying on, no authentication drops', async () => {
    const bob = await openPeer(browser, server.url, { name: 'bob', autoaccept: true, relay: '1' });
    pages.push(bob);
    await until(async () => server.signaling.core.stats.users, (n) => n >= 1, 'bob online', 30_000);
    const alice = await openPeer(browser, server.url, { name: 'alice', call: 'bob', relay: '1' });
    pages.push(alice);
    const [a0, b0] = await until(both(alice, bob), ([x, y]) => decoded(x) >= 30 && decoded(y) >= 30 && x.security === 'media-protected' && y.security === 'media-protected', 'media flowing through a relay');
    expect(a0.inbound!.candidateType).toBe('relay');
    // Which relay carries the call: the one whose forwarder counts the media (the other sees only keep-alives).
    const before = links.map((l) => l.stats.forwarded);
    await until(async () => links.map((l, i) => l.stats.forwarded - before[i]!), (d) => Math.max(...d) >= 500, 'media packets through a relay');
    const counts = links.map((l, i) => l.stats.forwarded - before[i]!);
    const busy = counts[0]! >= counts[1]! ? 0 : 1;
    const other = 1 - busy;
    console.log(`relay failover: packets through relay 0 / 1 in the sample: ${counts.join(' / ')}; killing relay ${busy}`);
    const [a1, b1] = await both(alice, bob)();
    await relays[busy]!.stop();
    const killedAt = Date.now();
    const survivor = links[other]!.stats.forwarded;
    const [a2, b2] = await until(both(alice, bob), ([x, y]) => decoded(x) >= decoded(a1) + 30 && decoded(y) >= decoded(b1) + 30 && links[other]!.stats.forwarded - survivor >= 500, 'media decoding again through the other relay', 120_000);
    console.log(`relay failover: media again ${Date.now() - killedAt} ms after the relay was killed; recoveries ${a2.recoveries}/${b2.recoveries}, ICE restarts ${a2.iceRestarts}/${b2.iceRestarts}; packets through the survivor since ${links[other]!.stats.forwarded - survivor}; drops ${JSON.stringify(a2.transport!.dropped)} / ${JSON.stringify(b2.transport!.dropped)}`);
    for (const [start, after] of [[a1, a2], [b1, b2]] as const) {
      expect(after.emoji).toEqual(a0.emoji);
      expect(after.endReason).toBeUndefined();
      expect(after.security).toBe('media-protected');
      expect(after.inbound!.candidateType).toBe('relay');
      expect(after.transport!.dropped.auth).toBe(0);
      expect(integrityDrops(after) - integrityDrops(start)).toBeLessThanOrEqual(5);
      expect(duplicates(after)).toBeLessThanOrEqual(duplicateAllowance(after)); // Chromium's own repeats (harness.ts)
      expect(after.transport!.opened.frames).toBeGreaterThan(start.transport!.opened.frames);
    }
    expect(b0.emoji).toEqual(a0.emoji);
  });
});
