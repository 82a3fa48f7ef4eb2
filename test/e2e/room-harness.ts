/**
 * Rooms in real browsers: the signaling server with the real SFU (@mtcall/sfu on the mediasoup worker the setup
 * builds), the SDK bundle at /sdk/, the TEST room worker (the product worker plus plaintext samples, bundled here
 * with vite) at /room-worker-test.js, and a page (/room-test.html) that joins a room from URL parameters and keeps a
 * log the test reads: events, tracks, decoded video frames with their times, audio energy, worker counters.
 */

import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';
import { chromium, type Browser, type Page } from 'playwright-core';
import { Sfu } from '@mtcall/sfu';
import { startSignalingServer, type RunningSignalingServer, type StartSignalingServerOptions } from '@mtcall/signaling/server';
import { CHROMIUM, CHROMIUM_ARGS, haveBrowser } from './harness.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SDK = join(ROOT, 'packages/client/dist/browser');
const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.map': 'application/json' };

/** The page: joins `?room=` as `?user=`, logs everything on window.roomLog, measures what it decodes. */
const ROOM_PAGE = `<!doctype html><meta charset="utf-8"><title>room test</title><body>
<script type="module">
  import * as sdk from '/sdk/mtcall-client.js';
  const q = new URLSearchParams(location.search);
  const log = { events: [], tracks: [], frames: {}, energy: {}, codes: [], warnings: [], error: null, joined: false, left: false };
  window.roomLog = log;
  const t0 = performance.now();
  const now = () => Math.round(performance.now() - t0);
  // Readable at once: the test polls the log (joined / error) instead of waiting on the join with a deadline.
  window.snapshot = async () => ({ ...log, stats: window.room ? await window.room.stats() : null, security: window.room?.security,
    epoch: window.room?.epoch, distributor: window.room?.distributor, userAgent: navigator.userAgent, mode: window.room?.transformMode });
  window.ready = true;
  try {
    const signals = q.get('signals');
    const client = await sdk.MtcallClient.connect({ ...(signals ? { urls: signals.split(' ') } : { url: q.get('signal') }), userId: q.get('user'),
      roomWorker: () => new Worker('/room-worker-test.js', { type: 'module' }) });
    window.client = client;
    const room = await client.join(q.get('room'), { audio: true, video: { width: 320, height: 240, frameRate: 15 }, statsIntervalMs: 250, ...(q.get('rejoin') === 'off' ? { rejoin: false } : {}) });
    window.room = room;
    log.joined = true;
    log.memberId = room.memberId;
    for (const e of ['members', 'epoch', 'switched', 'security', 'left', 'track-ended', 'track-paused', 'local-media', 'resumed', 'rejoining', 'rejoined'])
      room.on(e, (v) => log.events.push({ t: now(), event: e, value: e === 'members' ? { n: v.members.length, joined: v.joined?.memberId, left: v.left?.memberId } : e === 'epoch' ? { epoch: v.epoch, members: v.members.map((m) => m.memberId) } : v }));
    room.on('code', (c) => log.codes.push({ t: now(), epoch: c.epoch, emoji: c.emoji.join('') }));
    log.warnings.push(...room.warnings);
    room.on('warning', (w) => log.warnings.push(w));
    room.on('error', (e) => log.events.push({ t: now(), event: 'error', value: { code: e.code, message: e.message } }));
    if (room.code) log.codes.push({ t: now(), epoch: room.code.epoch, emoji: room.code.emoji.join('') });
    const onTrack = (t) => {
      const key = t.memberId + '/' + t.source;
      log.tracks.push({ key, memberId: t.memberId, userId: t.userId, kind: t.kind, source: t.source });
      if (t.kind === 'video') {
        const video = document.createElement('video');
        video.muted = true; video.autoplay = true; video.playsInline = true; video.srcObject = t.stream;
        document.body.append(video);
        log.frames[key] = [];
        const onFrame = () => { log.frames[key].push(now()); if (log.frames[key].length > 4000) log.frames[key].splice(0, 1000); video.requestVideoFrameCallback(onFrame); };
        video.requestVideoFrameCallback(onFrame);
      } else {
        const ctx = new AudioContext();
        const analyser = ctx.createAnalyser();
        ctx.createMediaStreamSource(t.stream).connect(analyser);
        const audio = new Audio(); audio.srcObject = t.stream; audio.muted = true; audio.play().catch((e) => log.warnings.push({ code: 'audio-play', detail: String(e) }));
        log.audioState = log.audioState || {};
        setInterval(() => { log.audioState[key] = ctx.state; }, 500);
        const data = new Float32Array(analyser.fftSize);
        log.energy[key] = 0;
        setInterval(() => { analyser.getFloatTimeDomainData(data); let s = 0; for (const x of data) s += x * x; log.energy[key] = Math.max(log.energy[key], Math.sqrt(s / data.length)); }, 100);
      }
    };
    room.on('track', onTrack);
    for (const t of room.tracks) onTrack(t);
  } catch (e) { log.error = String(e && e.message || e); }
  // A page no test can drive (Firefox ESR) posts its snapshot to the test server instead.
  if (q.get('report')) {
    const post = async () => {
      try { await fetch('/report?' + new URLSearchParams({ user: q.get('user') }), { method: 'POST', body: JSON.stringify(await window.snapshot()) }); } catch {}
      setTimeout(post, 500);
    };
    void post();
  }
</script>`;

export interface RoomServer {
  url: string;
  /** The last snapshot each self-running page (`?report=1`) posted, by user. */
  reports: Map<string, RoomSnapshot>;
  /** Cuts a member's signaling connection (its TCP socket) as a network drop would; its media is untouched. */
  dropSignaling(user: string): void;
  /** While held, a member's attempts to reconnect its signaling are refused (503). */
  holdSignaling(user: string, held: boolean): void;
  signaling: RunningSignalingServer;
  sfu: Sfu;
  close(): Promise<void>;
}

/** Bundles the test room worker (it imports @mtcall/crypto; a page cannot resolve bare imports). */
async function bundleTestRoomWorker(): Promise<string> {
  const output = await build({
    configFile: false,
    logLevel: 'warn',
    build: {
      write: false,
      target: 'es2022',
      minify: false,
      lib: { entry: join(ROOT, 'packages/transport/dist/testing/room-worker.js'), formats: ['es'], fileName: () => 'room-worker-test.js' },
    },
  });
  const outputs = Array.isArray(output) ? output : [output];
  for (const o of outputs) for (const chunk of (o as { output: { type: string; code?: string }[] }).output) if (chunk.type === 'chunk') return chunk.code!;
  throw new Error('no room worker bundle');
}

export async function startRoomServer(options: Partial<StartSignalingServerOptions> = {}, sfu?: Sfu): Promise<RoomServer> {
  const ownSfu = !sfu;
  const media = sfu ?? (await Sfu.start({ workers: 2 }));
  const worker = await bundleTestRoomWorker();
  const reports = new Map<string, RoomSnapshot>();
  const http = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://x');
      const path = decodeURIComponent(url.pathname);
      if (path === '/report' && req.method === 'POST') {
        let body = '';
        for await (const chunk of req) body += String(chunk);
        try {
          reports.set(url.searchParams.get('user') ?? '?', JSON.parse(body) as RoomSnapshot);
          return void res.writeHead(204).end();
        } catch {
          return void res.writeHead(400).end();
        }
      }
      if (path === '/room-test.html') return void res.writeHead(200, { 'content-type': TYPES['.html']! }).end(ROOM_PAGE);
      if (path === '/room-worker-test.js') return void res.writeHead(200, { 'content-type': TYPES['.js']! }).end(worker);
      if (path.startsWith('/sdk/')) {
        const file = resolve(SDK, '.' + path.slice(4));
        if (file.startsWith(SDK + sep)) {
          try {
            return void res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(await readFile(file));
          } catch {
            // fall through
          }
        }
      }
      res.writeHead(404).end('not found');
    })();
  });
  // Each page's signaling URL names its user (`?member=`, ignored by the server): its socket can be cut.
  const sockets = new Map<string, import('node:stream').Duplex>();
  const held = new Set<string>();
  // Registered before the signaling server's own listener: a refused socket is no longer writable and ws drops it.
  http.on('upgrade', (req: import('node:http').IncomingMessage, socket: import('node:stream').Duplex) => {
    const user = new URL(req.url ?? '/', 'http://x').searchParams.get('member');
    if (user && held.has(user)) return void socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\r\n');
    if (user) sockets.set(user, socket);
  });
  await new Promise<void>((ok) => http.listen(0, '127.0.0.1', ok));
  const signaling = await startSignalingServer({ server: http, path: '/signal', rooms: { media }, ...options });
  const port = (http.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}/`,
    reports,
    dropSignaling: (user) => sockets.get(user)?.destroy(),
    holdSignaling: (user, hold) => void (hold ? held.add(user) : held.delete(user)),
    signaling,
    sfu: media,
    close: async () => {
      await signaling.close();
      http.closeAllConnections();
      await new Promise<void>((ok) => http.close(() => ok()));
      if (ownSfu) media.close();
    },
  };
}

export async function launchRoomChromium(): Promise<Browser> {
  if (!haveBrowser(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run scripts/setup.sh --browsers`);
  return chromium.launch({ executablePath: CHROMIUM, args: [...CHROMIUM_ARGS, '--autoplay-policy=no-user-gesture-required'] });
}

/** What a page logged (see ROOM_PAGE). */
export interface RoomSnapshot {
  joined: boolean;
  left: boolean;
  error: string | null;
  memberId?: number;
  events: { t: number; event: string; value: Record<string, unknown> }[];
  tracks: { key: string; memberId: number; userId: string; kind: string; source: string }[];
  frames: Record<string, number[]>;
  energy: Record<string, number>;
  /** Each audio track's AudioContext state (a suspended one reads no energy). */
  audioState?: Record<string, string>;
  codes: { t: number; epoch: number; emoji: string }[];
  warnings: { code: string; detail: string; epoch?: number }[];
  stats: {
    sealed: { frames: number }; opened: { frames: number }; openedBySender: Record<string, number>; openedByEpoch: Record<string, number>;
    dropped: Record<string, number>; sendingEpoch: number; epochs: number[]; plaintextSamples?: string[]; ciphertextDiffers?: number; unsealedDrops: number;
  } | null;
  security?: string;
  epoch?: { held: number; sending: number };
  distributor?: number;
  userAgent?: string;
  /** How the page's browser transforms frames (`encoded-streams` or `script-transform`). */
  mode?: string;
}

/** The page's address for `user` in `room` (`report`: the page posts its snapshots to the server). */
export function memberUrl(server: RoomServer, user: string, room: string, report = false, extra: Record<string, string> = {}): string {
  const signal = server.url.replace(/^http/, 'ws') + 'signal?' + new URLSearchParams({ member: user });
  return `${server.url}room-test.html?${new URLSearchParams({ user, room, signal, ...(report ? { report: '1' } : {}), ...extra })}`;
}

/** A server's signaling URL for `user`'s page (for `signals`: a cluster's endpoints, space-separated). */
export function signalUrl(server: RoomServer, user: string): string {
  return server.url.replace(/^http/, 'ws') + 'signal?' + new URLSearchParams({ member: user });
}

/**
 * Opens `user`'s page from `server`'s origin. `extra`: more page parameters — `signals` (space-separated signaling
 * URLs: the client's `urls`), `rejoin: 'off'` (the room session does not rejoin a lost room).
 */
export async function openMember(browser: Browser, server: RoomServer, user: string, room: string, extra: Record<string, string> = {}): Promise<Page> {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on('pageerror', (error) => console.error(`[${user}] page error:`, error.message));
  await page.goto(memberUrl(server, user, room, false, extra));
  return page;
}

export async function snap(page: Page): Promise<RoomSnapshot> {
  await page.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true);
  return page.evaluate(() => (window as unknown as { snapshot(): Promise<RoomSnapshot> }).snapshot());
}

/** Polls `read` until `done` holds (no deadline of its own: the test's timeout bounds it). */
export async function waitFor<T>(read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Largest gap (ms) between consecutive decoded frames within [from, to]. */
export function largestGap(times: number[], from: number, to: number): number {
  const inside = times.filter((t) => t >= from && t <= to);
  let gap = 0;
  for (let i = 1; i < inside.length; i++) gap = Math.max(gap, inside[i]! - inside[i - 1]!);
  return gap;
}
