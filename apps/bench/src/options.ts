/** Command-line options of mtcall-bench. Pure: parsing never touches the environment. */

import { parseArgs } from 'node:util';
import { BROWSERS, type BrowserName } from './browser-protocol.js';

export const DEFAULT_SIZES: readonly number[] = [64, 160, 1200, 4096, 65536];
/** Frame sizes of `--browser`: an audio frame, a small and a typical video delta frame, a key frame. */
export const BROWSER_DEFAULT_SIZES: readonly number[] = [160, 1200, 4096, 65536];
/**
 * Seconds of each timed repeat. 6 rows × 5 sizes × 3 repeats × 0.4 s, plus warm-ups and ~11 s of openssl speed,
 * keeps the default run under a minute.
 */
export const DEFAULT_SECONDS = 0.4;
/** Largest --sizes value: the packet must stay well under the opener's default 1 MiB limit. */
export const MAX_SIZE = 256 * 1024;

export const USAGE = `Usage: mtcall-bench [options]

Packets per second of @mtcall/crypto's PacketSealer.sealMessage (seal) and PacketOpener.open (open) per
backend, next to three references at the same body size:
  bound   SHA-256(32+B) + 2×SHA-256(52) + AES-256-CTR(B), fresh createCipheriv per packet, on node:crypto
  gcm     AES-256-GCM per packet with a fixed key (the SFrame way), on node:crypto
  native  the same primitives as bound, timed by \`openssl speed\` (needs openssl on PATH)

Options:
  --sizes LIST     comma-separated body sizes in bytes (default ${DEFAULT_SIZES.join(',')})
  --seconds N      seconds of each timed repeat (default ${DEFAULT_SECONDS})
  --repeats N      timed repeats per row, the median reported (default 3; more on a busy machine)
  --backend NAME   only this @mtcall/crypto backend: node | noble (references are always measured)
  --no-native      skip openssl speed (ratioToNative is then null)
  --json           print one JSON array of rows on stdout instead of the table
  --browser        measure in browser workers instead: headless Chromium, then Firefox ESR (see below)
  --browsers LIST  with --browser (implies it): which of ${BROWSERS.join(',')} to measure (default all)
  -h, --help       print this help

Progress goes to stderr, the table (or JSON) to stdout. Targets are reported, never turned into an exit code.

Sizes above 128 KiB: node:crypto's output buffers then come from mmap and glibc returns them to the kernel, so
every row pays page faults that depend on GC timing and the figures swing by ±30%. For stable numbers there,
run with MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=4000000000 in the environment.

--browser: µs per frame inside ONE dedicated Web Worker of headless Chromium, then of headless Firefox ESR (the
kind of worker the encoded transforms run in), every frame awaited before the next, at frame sizes ${BROWSER_DEFAULT_SIZES.join(',')} unless --sizes says
otherwise (--seconds and --repeats apply; --backend does not: the worker uses the encryption worker's backends):
  gcm               WebCrypto AES-256-GCM, key imported once, one subtle.encrypt per frame (the LiveKit/Jitsi way)
  seal              await @mtcall/transport FrameCryptor.encryptAsync(frame, {kind: 'video', mid: '1'}, 'VP9'): the
                    worker's own per-frame path, its size switch between the sync backend and Web Crypto included
  open              await FrameCryptor.decryptAsync of frames sealed beforehand (a fresh cryptor per batch, untimed)
  seal-sync         the synchronous path alone; seal-webcrypto: the Web Crypto path alone (where the switch belongs)
  seal-noble        the synchronous path on @noble alone (the browsers' backend before the WebAssembly SHA-256)
The four cryptors are checked to give the same wire bytes first. ×floor = the cost ratio to gcm ÷ the scheme's
floor at that size (../shared/PERF-FACTS.md): 1.00× is the best any implementation of the scheme can do.
The worker is bundled with Vite from the workspace's dist/ builds (run \`npx turbo run build\` first) and served
from 127.0.0.1. Chromium ($MTCALL_CHROMIUM, else /usr/bin/chromium) is driven by playwright-core; Firefox ESR
($MTCALL_FIREFOX, else /usr/bin/firefox-esr) cannot be, so its page runs the worker by itself and posts the result
back. Rows (--json): backend 'chromium-worker' or 'firefox-worker', op, size, usPerFrame, framesPerSec, ratioToGcm
(framesPerSec ÷ gcm's), ratioToFloor. About 30 s per browser with the defaults.
`;

export interface Options {
  help: boolean;
  json: boolean;
  native: boolean;
  sizes: number[];
  seconds: number;
  repeats: number;
  backend: string | undefined;
  /** Measure in browser workers instead of Node. */
  browser: boolean;
  /** With `browser`: the browsers to measure, in order. */
  browsers: BrowserName[];
}

/** Parses argv (without node and the script); throws an Error with a readable message on bad input. */
export function parseOptions(argv: readonly string[]): Options {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      help: { type: 'boolean', short: 'h', default: false },
      json: { type: 'boolean', default: false },
      'no-native': { type: 'boolean', default: false },
      sizes: { type: 'string' },
      seconds: { type: 'string' },
      repeats: { type: 'string' },
      backend: { type: 'string' },
      browser: { type: 'boolean', default: false },
      browsers: { type: 'string' },
    },
  });
  const browser = values.browser || values.browsers !== undefined;
  const browsers = values.browsers === undefined ? [...BROWSERS] : parseBrowsers(values.browsers);
  const sizes = values.sizes === undefined ? [...(browser ? BROWSER_DEFAULT_SIZES : DEFAULT_SIZES)] : parseSizes(values.sizes);
  const seconds = values.seconds === undefined ? DEFAULT_SECONDS : Number(values.seconds);
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 60) throw new Error(`--seconds must be a number in (0, 60]; got ${values.seconds}`);
  const repeats = values.repeats === undefined ? 3 : Number(values.repeats);
  if (!Number.isInteger(repeats) || repeats < 1 || repeats > 51) throw new Error(`--repeats must be an integer in 1..51; got ${values.repeats}`);
  if (values.backend !== undefined && !/^[a-z]+$/.test(values.backend)) throw new Error(`--backend: bad name ${JSON.stringify(values.backend)}`);
  if (browser && values.backend !== undefined) throw new Error('--backend does not apply to --browser (the worker uses the browser default)');
  return { help: values.help, json: values.json, native: !values['no-native'], sizes, seconds, repeats, backend: values.backend, browser, browsers };
}

function parseBrowsers(list: string): BrowserName[] {
  const names = list.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (names.length === 0) throw new Error('--browsers: empty list');
  for (const name of names) {
    if (!(BROWSERS as readonly string[]).includes(name)) throw new Error(`--browsers: unknown browser ${JSON.stringify(name)} (known: ${BROWSERS.join(', ')})`);
  }
  return BROWSERS.filter((b) => names.includes(b));
}

function parseSizes(list: string): number[] {
  const sizes = list.split(',').map((s) => s.trim()).filter((s) => s !== '').map(Number);
  if (sizes.length === 0) throw new Error('--sizes: empty list');
  for (const s of sizes) {
    if (!Number.isInteger(s) || s < 1 || s > MAX_SIZE) throw new Error(`--sizes: each size must be an integer in 1..${MAX_SIZE}; got ${list}`);
  }
  return [...new Set(sizes)].sort((a, b) => a - b);
}
