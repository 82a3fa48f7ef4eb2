import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import type { RunningDemoServer } from '@mtcall/demo/dist-server/server.js';
import { duplicateAllowance, duplicates, integrityDrops, lateCopies, launchChromium, launchFirefox, openPeer, reported, snapshot, startDemo, until, type FirefoxPage, type Snapshot } from './harness.js';

let browser: Browser;
let server: RunningDemoServer;
let firefox: FirefoxPage | undefined;
let chrome: Page | undefined;

beforeAll(async () => {
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
});
afterEach(async () => {
  await chrome?.context().close();
  await firefox?.close();
  await server?.close();
  chrome = undefined;
  firefox = undefined;
});

const flowing = (s: Snapshot) => (s.inbound?.videoFramesDecoded ?? 0) >= 20 && (s.inbound?.audioPacketsReceived ?? 0) >= 50;

function check(fox: Snapshot, chromium: Snapshot): void {
  expect(fox.emoji).toHaveLength(4);
  expect(fox.emoji).toEqual(chromium.emoji);
  expect(fox.mode).toBe('script-transform'); // Firefox has RTCRtpScriptTransform only
  console.log(`Firefox/Chromium: opened ${fox.transport?.opened.frames}/${chromium.transport?.opened.frames}, duplicates dropped as replay ${duplicates(fox)}/${duplicates(chromium)}, empty frames ${fox.transport?.empty}/${chromium.transport?.empty}`);
  for (const s of [fox, chromium]) {
    expect(integrityDrops(s), JSON.stringify(s.transport?.dropped)).toBe(0);
    expect(duplicates(s) + lateCopies(s)).toBeLessThanOrEqual(duplicateAllowance(s));
    expect(s.transport!.ciphertextDiffers).toBe(s.transport!.sealed.frames);
  }
}

describe('Chromium ↔ Firefox ESR', () => {
  it('Chromium calls Firefox: same emoji, both decode', async () => {
    server = await startDemo();
    firefox = await launchFirefox(`${server.url}?name=fox&autoaccept=1&report=/report`);
    await until(async () => server.signaling.core.stats.users, (n) => n >= 1, 'Firefox online', 90_000);
    chrome = await openPeer(browser, server.url, { name: 'chrome', call: 'fox' });
    const fox = await until(reported(server, 'fox'), flowing, 'Firefox decoding Chromium', 120_000);
    const chromium = await until(() => snapshot(chrome!), flowing, 'Chromium decoding Firefox');
    check(await until(reported(server, 'fox'), flowing, 'fresh Firefox report'), chromium);
    expect(fox.inbound!.connectionState).toBe('connected');
  });

  it('Firefox calls Chromium: same emoji, both decode', async () => {
    server = await startDemo();
    chrome = await openPeer(browser, server.url, { name: 'chrome', autoaccept: true });
    await until(async () => server.signaling.core.stats.users, (n) => n >= 1, 'Chromium online');
    firefox = await launchFirefox(`${server.url}?name=fox&call=chrome&report=/report`);
    const fox = await until(reported(server, 'fox'), flowing, 'Firefox decoding Chromium', 120_000);
    const chromium = await until(() => snapshot(chrome!), flowing, 'Chromium decoding Firefox');
    check(fox, chromium);
  });
});
