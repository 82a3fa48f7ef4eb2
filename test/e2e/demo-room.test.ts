/**
 * The demo's room view (`mtcall-demo --rooms`), as people use it (the production build): three people sign in and
 * join the same room; each sees the others' video in tiles, the same four-emoji room code, and the join and leave.
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { startDemoServer, type RunningDemoServer } from '@mtcall/demo/dist-server/server.js';
import { launchRoomChromium, waitFor } from './room-harness.js';

let browser: Browser;
let server: RunningDemoServer;
const pages: Page[] = [];

beforeAll(async () => {
  browser = await launchRoomChromium();
  server = await startDemoServer({ port: 0, app: 'production', rooms: { workers: 1 } });
});
afterAll(async () => {
  for (const p of pages) await p.context().close();
  await browser?.close();
  await server?.close();
});

interface RoomState {
  code: string;
  head: string;
  playing: number;
  tiles: number;
  notices: string[];
  status: string;
}

const roomState = (page: Page) =>
  page.evaluate((): RoomState => ({
    code: document.querySelector('.room-code')?.textContent ?? '',
    head: document.querySelector('.room-head .sub')?.textContent ?? '',
    tiles: document.querySelectorAll('.room-grid .tile').length,
    playing: [...document.querySelectorAll<HTMLVideoElement>('.room-grid .tile video')].filter((v) => v.videoWidth > 0 && !v.paused).length,
    notices: [...document.querySelectorAll('.room-notices li')].map((li) => li.textContent ?? ''),
    status: document.querySelector('.room .status')?.textContent ?? '',
  }));

async function person(name: string): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  page.on('pageerror', (error) => console.error(`[${name}] page error:`, error.message));
  await page.goto(server.url);
  await page.fill('#name', name);
  await page.click('#join');
  await page.waitForSelector('#room-name');
  await page.fill('#room-name', 'standup');
  await page.click('#join-room');
  pages.push(page);
  return page;
}

describe('the demo\'s room view', () => {
  it('three people in one room: tiles with everyone\'s video, one room code, joins and leaves shown', async () => {
    for (const name of ['ann', 'ben', 'cat']) await person(name);
    // The security line turns to "End-to-end encrypted" on the room's next stats tick after media opens, and the
    // join notices arrive with the member lists: wait for all of it rather than racing the UI.
    const states = await waitFor(() => Promise.all(pages.map(roomState)), (s) =>
      s.every((x) => x.tiles === 3 && x.playing === 3 && [...x.code.replace(/\s/g, '')].length >= 4 && x.code === s[0]!.code && x.head.startsWith('3 here') &&
        x.status.includes('End-to-end encrypted')) && s[0]!.notices.some((n) => n.includes('ben joined')));
    if (process.env['MTCALL_SCREENSHOTS']) await pages[0]!.screenshot({ path: `${process.env['MTCALL_SCREENSHOTS']}/demo-room.png`, fullPage: true });
    console.log('demo room:', states.map((s) => ({ code: s.code, head: s.head, status: s.status })));
    expect(states[0]!.notices.some((n) => n.includes('ben joined'))).toBe(true);
    expect(states.every((s) => s.status.includes('End-to-end encrypted'))).toBe(true);
    await pages[2]!.click('#leave-room');
    const after = await waitFor(() => Promise.all(pages.slice(0, 2).map(roomState)), (s) =>
      s.every((x) => x.tiles === 2 && x.head.startsWith('2 here') && x.code !== states[0]!.code && x.code === s[0]!.code && x.notices.some((n) => n.includes('cat left'))));
    // A new epoch without cat, and a new code the two remaining people share.
    expect(after[0]!.head).not.toBe(states[0]!.head);
  });
});
