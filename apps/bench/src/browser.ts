/**
 * The Node side of `--browser`: bundles the benchmark worker with Vite's JS API (in memory), serves it and a
 * one-line page from 127.0.0.1, opens the page in headless Chromium through playwright-core (as the e2e tests
 * do, test/e2e/harness.ts), and hands the worker's result back. Vite and playwright-core are loaded only here,
 * only in this mode: the default Node run never touches them.
 *
 * The worker bundle's entry is a virtual module that imports FrameCryptor from @mtcall/transport's dist build (the
 * same code the demo bundles into its encoded-transform worker) and gives it to ./browser-worker.js, so this
 * package's own TypeScript build never depends on transport having been built first.
 */

import { existsSync, readdirSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BrowserBenchConfig, BrowserBenchResult } from './browser-protocol.js';
import { cpuSnapshot, descendantsCpuSeconds, otherCpus } from './machine.js';

export const CHROMIUM = process.env['MTCALL_CHROMIUM'] ?? '/usr/bin/chromium';
/** test/e2e/harness.ts's CHROMIUM_ARGS, plus a GC the worker may call between repeats (as the Node harness does). */
export const CHROMIUM_ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
  '--js-flags=--expose-gc',
];

/** What a browser run produced, with the context the report prints. */
export interface BrowserRun {
  result: BrowserBenchResult;
  chromiumVersion: string;
  contention?: { otherCpus: number; cpus: number };
}

const VIRTUAL_ENTRY = 'virtual:mtcall-bench-worker';
const RESOLVED_ENTRY = `\0${VIRTUAL_ENTRY}`;

/** A workspace package's built entry, or an error saying how to build it. */
function resolveBuilt(specifier: string): string {
  let path: string;
  try {
    path = fileURLToPath(import.meta.resolve(specifier));
  } catch (error) {
    throw new Error(`cannot resolve ${specifier} (${(error as Error).message}); build the workspace first: npx turbo run build`);
  }
  if (!existsSync(path)) throw new Error(`${path} is missing; build the workspace first: npx turbo run build`);
  return path;
}

/** Source files of a package newer than their dist/ counterpart (a stale build would measure old code). */
function staleFiles(packageDir: string): string[] {
  const src = join(packageDir, 'src');
  if (!existsSync(src)) return [];
  return readdirSync(src)
    .filter((name) => name.endsWith('.ts') && !name.endsWith('.test.ts') && !name.endsWith('.d.ts'))
    .filter((name) => {
      const built = join(packageDir, 'dist', name.replace(/\.ts$/, '.js'));
      return !existsSync(built) || statSync(built).mtimeMs < statSync(join(src, name)).mtimeMs;
    });
}

/** The worker as one ES module, bundled in memory by Vite from the workspace's dist builds. */
export async function bundleWorker(progress: (line: string) => void): Promise<string> {
  const transportEntry = resolveBuilt('@mtcall/transport');
  resolveBuilt('@mtcall/crypto');
  const transportDir = dirname(dirname(transportEntry));
  const stale = staleFiles(transportDir);
  if (stale.length > 0) {
    progress(`WARNING: ${join(transportDir, 'dist')} is older than src/ (${stale.join(', ')}): run npx turbo run build, or this measures old code`);
  }
  const workerModule = fileURLToPath(new URL('./browser-worker.js', import.meta.url));
  let vite: typeof import('vite');
  try {
    vite = await import('vite');
  } catch (error) {
    throw new Error(`--browser needs vite (a devDependency of the workspace; run npm install): ${(error as Error).message}`);
  }
  const output = await vite.build({
    configFile: false,
    envDir: false,
    root: dirname(workerModule),
    publicDir: false,
    logLevel: 'warn',
    plugins: [
      {
        name: 'mtcall-bench-worker-entry',
        resolveId: (id: string) => (id === VIRTUAL_ENTRY ? RESOLVED_ENTRY : null),
        load: (id: string) =>
          id === RESOLVED_ENTRY
            ? `import { FrameCryptor } from ${JSON.stringify(transportEntry)};\n` +
              `import { startBenchWorker } from ${JSON.stringify(workerModule)};\n` +
              'startBenchWorker(FrameCryptor);\n'
            : null,
      },
    ],
    build: {
      write: false,
      target: 'es2022', // as the demo's build
      sourcemap: false,
      copyPublicDir: false,
      reportCompressedSize: false,
      modulePreload: false,
      rolldownOptions: { input: VIRTUAL_ENTRY, output: { format: 'es', entryFileNames: 'worker.js' } },
    },
  });
  const outputs = Array.isArray(output) ? output : [output];
  for (const out of outputs) {
    if (!('output' in out)) continue;
    const chunks = out.output.filter((item) => item.type === 'chunk');
    if (chunks.length !== 1) throw new Error(`expected one worker chunk from Vite, got ${chunks.map((c) => c.fileName).join(', ')}`);
    const chunk = chunks[0];
    if (chunk?.type === 'chunk') {
      progress(`worker bundled by Vite ${vite.version}: ${(chunk.code.length / 1024).toFixed(0)} KiB (FrameCryptor from ${transportEntry})`);
      return chunk.code;
    }
  }
  throw new Error('Vite produced no worker chunk');
}

/** The page: starts the worker, relays progress to Node, resolves with the result. */
const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>mtcall-bench</title>
<script type="module">
  window.mtcallBenchRun = (config) => new Promise((resolve, reject) => {
    const worker = new Worker('/worker.js', { type: 'module' });
    worker.onmessage = (event) => {
      const message = event.data;
      if (message.type === 'progress') window.mtcallBenchProgress(message.line);
      else if (message.type === 'done') { worker.terminate(); resolve(message.result); }
      else { worker.terminate(); reject(new Error(message.message)); }
    };
    worker.onerror = (event) => reject(new Error('worker failed to start or threw: ' + (event.message || 'unknown error')));
    worker.postMessage(config);
  });
  window.mtcallBenchReady = true;
</script>
`;

/** Serves the page and the worker on 127.0.0.1 (a secure context), cross-origin isolated for a 5 µs timer. */
async function serve(workerCode: string): Promise<{ server: Server; url: string }> {
  const server = createServer((request, response) => {
    const headers = {
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Embedder-Policy': 'require-corp',
      'Cache-Control': 'no-store',
    };
    if (request.url === '/') {
      response.writeHead(200, { ...headers, 'Content-Type': 'text/html; charset=utf-8' }).end(PAGE);
    } else if (request.url === '/worker.js') {
      response.writeHead(200, { ...headers, 'Content-Type': 'text/javascript; charset=utf-8' }).end(workerCode);
    } else {
      response.writeHead(404, headers).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return { server, url: `http://127.0.0.1:${port}/` };
}

/** Bundles, serves, runs the worker in Chromium and returns what it measured. */
export async function runInBrowser(config: BrowserBenchConfig, progress: (line: string) => void): Promise<BrowserRun> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run scripts/setup.sh --browsers, or set MTCALL_CHROMIUM`);
  const workerCode = await bundleWorker(progress);
  let playwright: typeof import('playwright-core');
  try {
    playwright = await import('playwright-core');
  } catch (error) {
    throw new Error(`--browser needs playwright-core (a devDependency of the workspace; run npm install): ${(error as Error).message}`);
  }
  const { server, url } = await serve(workerCode);
  const browser = await playwright.chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  try {
    const chromiumVersion = browser.version();
    const page = await browser.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (error) => pageErrors.push(error.message));
    await page.exposeFunction('mtcallBenchProgress', (line: string) => progress(line));
    await page.goto(url);
    await page.waitForFunction(() => (globalThis as unknown as { mtcallBenchReady?: boolean }).mtcallBenchReady === true);
    progress(`Chromium ${chromiumVersion} at ${url}; sizes ${config.sizes.join(', ')} B; median of ${config.repeats} × ${config.seconds} s per row`);

    // A generous guard: the expected run time three times over, plus a minute for slow setup.
    const expectedSeconds = config.sizes.length * 6 * (config.repeats * config.seconds + config.warmupSeconds);
    const guardMs = (3 * expectedSeconds + 60) * 1000;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the browser run took over ${(guardMs / 1000).toFixed(0)} s; aborted`)), guardMs);
    });

    const before = cpuSnapshot();
    const chromiumBefore = descendantsCpuSeconds(process.pid);
    let result: BrowserBenchResult;
    try {
      result = await Promise.race([
        page.evaluate(
          (cfg) => (globalThis as unknown as { mtcallBenchRun(c: typeof cfg): Promise<BrowserBenchResult> }).mtcallBenchRun(cfg),
          config,
        ),
        timeout,
      ]);
    } catch (error) {
      const extra = pageErrors.length > 0 ? `; page errors: ${pageErrors.join(' | ')}` : '';
      throw new Error(`in the browser worker: ${(error as Error).message}${extra}`);
    } finally {
      clearTimeout(timer);
    }
    const after = cpuSnapshot();
    const chromiumAfter = descendantsCpuSeconds(process.pid);
    const contention =
      before && after && chromiumBefore !== undefined && chromiumAfter !== undefined
        ? { otherCpus: otherCpus(before, after, chromiumAfter - chromiumBefore), cpus: availableParallelism() }
        : undefined;
    return { result, chromiumVersion, ...(contention ? { contention } : {}) };
  } finally {
    await browser.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
