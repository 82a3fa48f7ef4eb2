/**
 * The demo's room view when the room's server instance stops (the production build, two demo servers on Redis):
 * ann (instance A, the room's owner) and ben (instance B) see each other; A stops; ben's view says "Room moved to
 * another server — rejoining…", its SDK joins the room again on B, and cat (a new person on B) and ben then see each
 * other with one new room code — never the old one.
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { startDemoServer, type RunningDemoServer } from '@mtcall/demo/dist-server/server.js';
import { startLocalRedis, type LocalRedis } from '@mtcall/signaling/server';
import { launchRoomChromium, waitFor } from './room-harness.js';

let browser: Browser;
let redis: LocalRedis;
const servers: RunningDemoServer[] = [];
const pages: Page[] = [];

beforeAll(async () => {
  browser = await launchRoomChromium();
  redis = await startLocalRedis();
});
afterAll(async () => {
  for (const p of pages) await p.context().close();
  await browser?.close();
  for (const s of servers) await s.close().catch(() => {});
  await redis?.stop();
});

async function instance(id: string): Promise<RunningDemoServer> {
  const server = await startDemoServer({ port: 0, app: 'production', rooms: { workers: 1 }, redis: { url: redis.url, instanceId: id, instanceTtlMs: 3000 } });
  servers.push(server);
  return server;
}

const roomState = (page: Page) =>
  page.evaluate(() => ({
    code: document.querySelector('.room-code')?.textContent ?? '',
    playing: [...document.querySelectorAll<HTMLVideoElement>('.room-grid .tile video')].filter((v) => v.videoWidth > 0 && !v.paused).length,
    notices: [...document.querySelectorAll('.room-notices li')].map((li) => li.textContent ?? ''),
    status: document.querySelector('.room .status')?.textContent ?? '',
  }));

async function person(server: RunningDemoServer, name: string): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  page.on('pageerror', (error) => console.error(`[${name}] page error:`, error.message));
  pages.push(page);
  await page.goto(server.url);
  await page.fill('#name', name);
  await page.click('#join');
  await page.waitForSelector('#room-name');
  await page.fill('#room-name', 'standup');
  await page.click('#join-room');
  return page;
}

describe('the demo\'s room view, its server instance lost', () => {
  it('"Room moved to another server — rejoining…", then a new room code', async () => {
    const a = await instance('A');
    const b = await instance('B');
    const ann = await person(a, 'ann');
    await waitFor(() => roomState(ann), (s) => s.playing >= 1);
    const ben = await person(b, 'ben');
    const before = await waitFor(() => Promise.all([roomState(ann), roomState(ben)]), (s) =>
      s.every((x) => x.playing >= 2 && x.code !== '…' && x.code !== '') && s[0]!.code === s[1]!.code);
    const oldCode = before[1]!.code;

    await a.close();
    const moving = await waitFor(() => roomState(ben), (s) => s.notices.some((n) => n.includes('Room moved to another server — rejoining…')));
    console.log('ben while rejoining:', moving);
    const cat = await person(b, 'cat');
    const after = await waitFor(() => Promise.all([roomState(ben), roomState(cat)]), (s) =>
      s.every((x) => x.playing >= 2 && x.code !== '…' && x.code !== '' && x.status.includes('End-to-end encrypted')) && s[0]!.code === s[1]!.code);
    console.log('demo after rejoining:', after.map((s) => ({ code: s.code, status: s.status, notices: s.notices })), 'old code', oldCode);
    expect(after[0]!.code).not.toBe(oldCode);
    expect(after[0]!.notices.some((n) => n.startsWith('Rejoined: a new room key and a new room code'))).toBe(true);
  });
});
