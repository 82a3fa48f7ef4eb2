import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import type { RunningDemoServer } from '@mtcall/demo/dist-server/server.js';
import { both, duplicateAllowance, duplicates, integrityDrops, lateCopies, launchChromium, openPeer, snapshot, startDemo, until, type Snapshot } from './harness.js';

let browser: Browser;
let server: RunningDemoServer;
const pages: Page[] = [];

beforeAll(async () => {
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
});
afterEach(async () => {
  for (const page of pages.splice(0)) await page.context().close();
  await server?.close();
});

async function call(params: { alice?: Record<string, string | true>; bob?: Record<string, string | true>; mitm?: boolean } = {}): Promise<[Page, Page]> {
  server = await startDemo({ mitm: params.mitm ?? false });
  const bob = await openPeer(browser, server.url, { name: 'bob', autoaccept: true, ...params.bob });
  pages.push(bob);
  await until(async () => (await server.signaling.core.stats).users, (n) => n >= 1, 'bob online', 30_000);
  const alice = await openPeer(browser, server.url, { name: 'alice', call: 'bob', ...params.alice });
  pages.push(alice);
  return [alice, bob];
}

const flowing = ([a, b]: [Snapshot, Snapshot], frames = 30) =>
  (a.inbound?.videoFramesDecoded ?? 0) >= frames && (b.inbound?.videoFramesDecoded ?? 0) >= frames &&
  (a.inbound?.audioPacketsReceived ?? 0) >= 50 && (b.inbound?.audioPacketsReceived ?? 0) >= 50;

describe('Chromium ↔ Chromium through the real signaling server', () => {
  it('both sides show the same emoji; video decodes, audio arrives; every frame sealed and opened, no drops', async () => {
    const [alice, bob] = await call();
    const [a, b] = await until(both(alice, bob), (s) => flowing(s), 'media flowing both ways');
    expect(a.emoji).toHaveLength(4);
    expect(a.emoji).toEqual(b.emoji);
    expect(a.callState).toBe('established');
    for (const s of [a, b]) {
      expect(integrityDrops(s), JSON.stringify(s.transport!.dropped) + ' ' + s.transport!.lastError).toBe(0);
      expect(duplicates(s) + lateCopies(s)).toBeLessThanOrEqual(duplicateAllowance(s));
      expect(s.transport!.sealed.frames).toBeGreaterThan(50);
      expect(s.transport!.opened.frames).toBeGreaterThan(50);
      // Every sealed frame's bytes differ from its plaintext: nothing left the worker in the clear.
      expect(s.transport!.ciphertextDiffers).toBe(s.transport!.sealed.frames);
      expect(s.inbound!.connectionState).toBe('connected');
    }
    console.log(`empty (DTX) frames, sealed like any other: alice ${a.transport!.empty}, bob ${b.transport!.empty}`);
    // Frames one side sealed are the frames the other opened (minus those still in flight). Read the receiver
    // first, then the sender, so the sender's count cannot be older than the receiver's.
    const opened = (await snapshot(bob)).transport!.opened.frames;
    const sealed = (await snapshot(alice)).transport!.sealed.frames;
    expect(opened).toBeLessThanOrEqual(sealed);
    expect(opened).toBeGreaterThan(sealed * 0.8);
  });

  it('the encryption is real: a receiver with a wrong key decodes nothing and counts auth drops', async () => {
    const [alice, bob] = await call({ bob: { wrongkey: true } });
    const [a, b] = await until(both(alice, bob), ([x, y]) => (x.transport?.dropped.auth ?? 0) >= 50 && (y.transport?.dropped.auth ?? 0) >= 50 && (y.inbound?.audioPacketsReceived ?? 0) >= 50, 'auth drops on both sides');
    expect(a.emoji).toEqual(b.emoji); // the signaling key is right; only the media key is wrong
    for (const s of [a, b]) {
      expect(s.inbound!.videoFramesDecoded).toBe(0);
      expect(s.transport!.opened.frames).toBe(0);
      expect(s.inbound!.audioPacketsReceived).toBeGreaterThan(0); // packets arrive, nothing opens
    }
  });

  it('with --mitm the call connects but the emoji differ (and no media opens)', async () => {
    const [alice, bob] = await call({ mitm: true });
    const [a, b] = await until(both(alice, bob), ([x, y]) => x.inbound?.connectionState === 'connected' && y.inbound?.connectionState === 'connected' && (x.transport?.dropped.auth ?? 0) > 20, 'a connected call');
    expect(a.emoji).toHaveLength(4);
    expect(b.emoji).toHaveLength(4);
    expect(a.emoji).not.toEqual(b.emoji);
    expect(a.transport!.opened.frames).toBe(0);
  });
});

describe('two video tracks (camera and a second capture, as a screen share): each stream bound to its own mid', () => {
  it('both video streams decode on the other side; no frame is refused as wrong-stream or dropped otherwise', async () => {
    const [alice, bob] = await call({ alice: { twoVideoTracks: true } });
    const [a, b] = await until(both(alice, bob), ([x, y]) => flowing([x, y]) && (y.inbound?.videoStreamsDecoding ?? 0) >= 2, 'two video streams decoding at bob');
    for (const s of [a, b]) {
      expect(integrityDrops(s), JSON.stringify(s.transport!.dropped) + ' ' + s.transport!.lastError).toBe(0);
      expect(s.transport!.dropped['wrong-stream']).toBe(0);
    }
    expect(b.inbound!.videoStreamsDecoding).toBe(2);
    expect(b.transport!.opened.frames).toBeGreaterThan(a.transport!.sealed.frames * 0.8);
  });
});

describe('the seq limit (2^30) aborts the call, as the spec says', () => {
  it('a caller whose counter starts 400 below 2^30 (test worker option) ends the call with seq-exhausted on both sides', async () => {
    const [alice, bob] = await call({ alice: { seqStart: String(2 ** 30 - 400) } });
    const [a, b] = await until(both(alice, bob), ([x, y]) => x.endReason !== undefined && y.endReason !== undefined, 'the call to end on both sides');
    expect(a.endReason).toBe('seq-exhausted');
    expect(b.endReason).toBe('seq-exhausted');
    for (const s of [a, b]) expect(s.status).toBe('The call reached its message limit and was ended for safety.');
    expect(a.emoji).toBeUndefined(); // the call is over
  });
});

describe('each video codec, forced with setCodecPreferences, and Opus', () => {
  it.each(['VP8', 'VP9', 'H264'])('%s', async (codec) => {
    const [alice, bob] = await call({ alice: { codec }, bob: { codec } });
    const [a, b] = await until(both(alice, bob), (s) => flowing(s, 20), `${codec} frames decoding`);
    console.log(`${codec}: opened ${a.transport!.opened.frames}/${b.transport!.opened.frames}, duplicates dropped as replay ${duplicates(a)}/${duplicates(b)}`);
    for (const s of [a, b]) {
      expect(s.inbound!.videoCodec?.toLowerCase()).toBe(`video/${codec.toLowerCase()}`);
      expect(s.inbound!.audioCodec?.toLowerCase()).toBe('audio/opus');
      expect(integrityDrops(s), JSON.stringify(s.transport!.dropped) + ' ' + s.transport!.lastError).toBe(0);
      expect(duplicates(s) + lateCopies(s)).toBeLessThanOrEqual(duplicateAllowance(s));
    }
  });
});

describe('the demo as a person uses it (built on @mtcall/client)', () => {
  async function signedIn(names: string[], viewport?: { width: number; height: number }): Promise<Page[]> {
    const result: Page[] = [];
    for (const name of names) {
      const page = await (await browser.newContext(viewport ? { viewport } : {})).newPage();
      pages.push(page);
      page.on('pageerror', (error) => console.error(`[${name}] page error:`, error.message));
      await page.goto(server.url);
      await page.fill('#name', name);
      await page.click('#join');
      result.push(page);
    }
    await result[0]!.waitForSelector(`[data-call="${names[1]}"]`, { timeout: 30_000 });
    return result;
  }
  const text = async (page: Page, selector: string) => (await page.textContent(selector)) ?? '';
  const waitText = (page: Page, selector: string, needle: string) =>
    page.waitForFunction(([s, n]) => document.querySelector(s!)?.textContent?.includes(n!) === true, [selector, needle] as const, { timeout: 60_000 });

  it('sign in, see who is online, call, accept, compare emoji, "they match", mute, hang up; the end says who and how long; declined in words', async () => {
    server = await startDemo();
    const [alice, bob] = await signedIn(['alice', 'bob']);
    await alice.click('[data-call="bob"]');
    await bob.waitForSelector('#incoming', { timeout: 30_000 });
    expect(await bob.textContent('#incoming')).toContain('alice');
    await bob.click('#accept');
    await alice.waitForSelector('#emoji', { timeout: 30_000 });
    await bob.waitForSelector('#emoji', { timeout: 30_000 });
    expect(await text(alice, '#emoji')).toBe(await text(bob, '#emoji'));
    // The lock appears only once media really opens under the key.
    await waitText(alice, '#security', 'End-to-end encrypted');
    await waitText(bob, '#security', 'End-to-end encrypted');
    await alice.click('#match');
    await waitText(alice, '#security', 'verified');
    expect(await text(bob, '#security')).not.toContain('verified'); // bob has not confirmed
    await alice.click('#mute');
    await waitText(bob, '#status', 'they are muted');
    await alice.click('#hangup');
    await bob.waitForSelector('#emoji', { state: 'detached', timeout: 30_000 });
    expect(await text(bob, '#status')).toContain('alice hung up.');
    expect(await text(bob, '#duration')).toMatch(/^Call lasted \d+:\d\d$/);
    expect(await text(alice, '#status')).toContain('You ended the call.');
    // Calling someone who declines: the caller reads why.
    await bob.click('[data-call="alice"]');
    await alice.waitForSelector('#decline', { timeout: 30_000 });
    await alice.click('#decline');
    await bob.waitForSelector('#toast', { timeout: 30_000 });
    expect(await text(bob, '#toast')).toBe('The call was declined.');
  });

  it('"They don\'t match" ends the call on both sides, in words', async () => {
    server = await startDemo();
    const [alice, bob] = await signedIn(['alice', 'bob']);
    await alice.click('[data-call="bob"]');
    await bob.click('#accept', { timeout: 30_000 });
    await bob.waitForSelector('#mismatch', { timeout: 30_000 });
    await bob.click('#mismatch');
    for (const page of [alice, bob]) await waitText(page, '#status', 'The emoji did not match');
  });

  it('with --mitm the page shows a red warning, never the lock: keys differ', async () => {
    server = await startDemo({ mitm: true });
    const [alice, bob] = await signedIn(['alice', 'bob']);
    await alice.click('[data-call="bob"]');
    await bob.click('#accept', { timeout: 30_000 });
    for (const page of [alice, bob]) {
      await waitText(page, '#security', 'Keys differ');
      expect(await page.$eval('#status', (e) => e.classList.contains('alarm'))).toBe(true);
      expect(await text(page, '#status')).not.toContain('End-to-end encrypted');
    }
    expect(await text(alice, '#emoji')).not.toBe(await text(bob, '#emoji'));
    const dir = process.env['MTCALL_SCREENSHOTS'];
    if (dir) await alice.screenshot({ path: `${dir}/mitm-keys-differ.png` });
  });

  it('an audio call answered without the camera; the camera turned on mid-call reaches the other side', async () => {
    server = await startDemo();
    // audioOnly comes from the test build's URL parameter; a person would answer an audio call the same way.
    const bob = await openPeer(browser, server.url, { name: 'bob', autoaccept: true, audioOnly: true });
    pages.push(bob);
    await until(async () => server.signaling.core.stats.users, (n) => n >= 1, 'bob online', 30_000);
    const alice = await openPeer(browser, server.url, { name: 'alice', call: 'bob', audioOnly: true });
    pages.push(alice);
    await until(both(alice, bob), ([a, b]) => a.security === 'media-protected' && b.security === 'media-protected', 'audio call protected');
    expect((await snapshot(bob)).inbound!.videoFramesDecoded).toBe(0);
    await alice.click('#camera');
    await until(() => snapshot(bob), (b) => (b.inbound?.videoFramesDecoded ?? 0) > 10, 'bob decodes alice’s camera');
    await waitText(bob, '#status', 'In a call with alice');
  });

  it('screenshots: the in-call emoji card, and a phone-size viewport (390×844) without overflow', async () => {
    server = await startDemo();
    const [alice, bob] = await signedIn(['alice', 'bob'], { width: 390, height: 844 });
    const overflow = (page: Page) => page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(await overflow(alice)).toBe(0);
    await alice.click('[data-call="bob"]');
    await bob.click('#accept', { timeout: 30_000 });
    await waitText(alice, '#security', 'End-to-end encrypted');
    expect(await overflow(alice)).toBe(0);
    expect(await overflow(bob)).toBe(0);
    const card = await alice.$('#emoji-card');
    const box = await card!.boundingBox();
    expect(box!.x).toBeGreaterThanOrEqual(0);
    expect(box!.x + box!.width).toBeLessThanOrEqual(390);
    const dir = process.env['MTCALL_SCREENSHOTS'];
    if (dir) {
      await alice.screenshot({ path: `${dir}/phone-in-call.png`, fullPage: true });
      await card!.screenshot({ path: `${dir}/emoji-card.png` });
    }
  });
});
