/**
 * TEST BUILD ONLY (test.html, `vite build --mode test` → dist-test/, served by `startDemoServer({ app: 'test' })`):
 * the demo driven by URL parameters so a browser the tests cannot script (Firefox ESR) runs a call by itself.
 *
 *   name=<id>        sign in                     call=<id>     then call them       autoaccept  answer every call
 *   codec=<VP8|…>    force a video codec         transform=…   force the API        audioOnly   no camera
 *   relay=1          relay only                  report=<path> POST snapshots there each second (same origin only)
 *   samples          the worker reports plaintext samples of sent video frames (relay capture test)
 *   wrongkey         the worker uses a media key with one byte changed       seqStart=<n>  the first seq sealed
 *   twoVideoTracks   send a second video track (two video streams: the stream binding in real browsers)
 *   giveUpMs=<n>     end the call with connection-lost after the media path was down this long (default 30 s)
 *   asyncThreshold=<n>  the frame size from which the worker's cryptor seals and opens with Web Crypto (perf runs)
 *
 * The production entry (main.ts) contains none of this; test/bundle.test.ts proves it on a fresh production build.
 */

import type { TestHooksMessage } from '@mtcall/transport/testing';
import type { TransformMode } from '@mtcall/transport';
import { startApp } from '../app.js';

const params = new URLSearchParams(location.search);
const hooks: TestHooksMessage = {
  type: 'test-hooks',
  ...(params.has('samples') ? { plaintextSamples: true } : {}),
  ...(params.has('wrongkey') ? { wrongKey: true } : {}),
  ...(params.has('seqStart') ? { firstSeq: Number(params.get('seqStart')) } : {}),
  ...(params.has('asyncThreshold') ? { asyncThreshold: Number(params.get('asyncThreshold')) } : {}),
};

/** The report path, only when it stays on this origin (never posts the page's state anywhere else). */
function sameOriginReport(value: string | null): string | undefined {
  if (value === null) return undefined;
  try {
    const url = new URL(value, location.href);
    return url.origin === location.origin ? url.href : undefined;
  } catch {
    return undefined;
  }
}
const report = sameOriginReport(params.get('report'));

const app = startApp({
  relayOnly: params.has('relay') && params.get('relay') !== '0',
  codec: params.get('codec') ?? undefined,
  transform: (params.get('transform') as TransformMode | null) ?? undefined,
  audioOnly: params.has('audioOnly'),
  secondVideoTrack: params.has('twoVideoTracks'),
  ...(params.has('giveUpMs') ? { reconnect: { giveUpAfterMs: Number(params.get('giveUpMs')) } } : {}),
  createWorker: () => {
    const worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
    worker.postMessage(hooks); // before SecureCall posts the key
    return worker;
  },
  onIncoming: params.has('autoaccept') ? (accept) => void accept() : undefined,
  onTick: report
    ? () => void fetch(report, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(app.snapshot()) }).catch(() => undefined)
    : undefined,
});

(window as unknown as { mtcallDemo: Pick<typeof app, 'snapshot' | 'refresh'> }).mtcallDemo = { snapshot: app.snapshot, refresh: app.refresh };

const name = params.get('name');
const callee = params.get('call');
if (name) void app.signIn(name).then(() => (callee ? app.placeCall(callee) : undefined));
