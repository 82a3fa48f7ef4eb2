/**
 * The Node side of `--browser`: bundles the benchmark worker with Vite's JS API (in memory), serves it and a
 * one-line page from 127.0.0.1, and hands the worker's result back. Chromium opens the page through playwright-core
 * (as the e2e tests do, test/e2e/harness.ts); Debian's Firefox ESR cannot be driven by playwright, so it opens the
 * page with `?auto` and the page runs by itself: it fetches `/config`, posts progress lines to `/progress` and the
 * result to `/result` (or `/error`). Vite and playwright-core are loaded only here, only in this mode: the default
 * Node run never touches them.
 *
 * The worker bundle's entry is a virtual module that imports FrameCryptor from @mtcall/transport's dist build (the
 * same code the demo bundles into its encoded-transform worker) and gives it to ./browser-worker.js, so this
 * package's own TypeScript build never depends on transport having been built first.
 */

import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BROWSER_LABELS, type BrowserBenchConfig, type BrowserBenchResult, type BrowserName } from './browser-protocol.js';
import { cpuSnapshot, descendantsCpuSeconds, otherCpus } from './machine.js';

export const CHROMIUM = process.env['MTCALL_CHROMIUM'] ?? '/usr/bin/chromium';
export const FIREFOX = process.env['MTCALL_FIREFOX'] ?? '/usr/bin/firefox-esr';
/** test/e2e/harness.ts's CHROMIUM_ARGS, plus a GC the worker may call between repeats (as the Node harness does). */
export const CHROMIUM_ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
  '--js-flags=--expose-gc',
];
/** Firefox prefs for a quiet headless run: no updates, telemetry or background traffic competing for the CPU. */
const FIREFOX_PREFS: Record<string, string | number | boolean> = {
  'app.update.enabled': false,
  'app.update.auto': false,
  'browser.shell.checkDefaultBrowser': false,
  'browser.startup.homepage_override.mstone': 'ignore',
  'datareporting.policy.dataSubmissionEnabled': false,
  'datareporting.healthreport.uploadEnabled': false,
  'toolkit.telemetry.enabled': false,
  'network.captive-portal-service.enabled': false,
  'network.connectivity-service.enabled': false,
  'browser.safebrowsing.malware.enabled': false,
  'browser.safebrowsing.phishing.enabled': false,
  'extensions.update.enabled': false,
  'browser.newtabpage.enabled': false,
  'browser.aboutwelcome.enabled': false,
};

/** What a browser run produced, with the context the report prints. */
export interface BrowserRun {
  result: BrowserBenchResult;
  /** The browser and its version, e.g. `Firefox ESR 153.0`. */
  browser: string;
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

/**
 * The page: starts the worker and relays its progress and result. Under playwright (Chromium) Node calls
 * `mtcallBenchRun(config)`; with `?auto` (Firefox) the page runs by itself and reports over HTTP.
 */
const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>mtcall-bench</title>
<script type="module">
  const run = (config, progress) => new Promise((resolve, reject) => {
    const worker = new Worker('/worker.js', { type: 'module' });
    worker.onmessage = (event) => {
      const message = event.data;
      if (message.type === 'progress') progress(message.line);
      else if (message.type === 'done') { worker.terminate(); resolve(message.result); }
      else { worker.terminate(); reject(new Error(message.message)); }
    };
    worker.onerror = (event) => reject(new Error('worker failed to start or threw: ' + (event.message || 'unknown error')));
    worker.postMessage(config);
  });
  window.mtcallBenchRun = (config) => run(config, (line) => window.mtcallBenchProgress(line));
  window.mtcallBenchReady = true;
  if (new URLSearchParams(location.search).has('auto')) {
    const post = (path, body) => fetch(path, { method: 'POST', body });
    fetch('/config')
      .then((response) => response.json())
      .then((config) => run(config, (line) => void post('/progress', line)))
      .then((result) => post('/result', JSON.stringify(result)))
      .catch((error) => post('/error', String(error && error.stack || error)));
  }
</script>
`;

/** What a self-running page reports to the server. */
interface PageReports {
  progress(line: string): void;
  result(result: BrowserBenchResult): void;
  error(message: string): void;
}

/** Serves the page and the worker on 127.0.0.1 (a secure context), cross-origin isolated for a 5 µs timer. */
async function serve(workerCode: string, config: BrowserBenchConfig, reports: PageReports): Promise<{ server: Server; url: string }> {
  const server = createServer((request, response) => {
    const headers = {
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Embedder-Policy': 'require-corp',
      'Cache-Control': 'no-store',
    };
    const path = (request.url ?? '/').replace(/\?.*$/, '');
    if (request.method === 'POST' && (path === '/progress' || path === '/result' || path === '/error')) {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        response.writeHead(204, headers).end();
        if (path === '/progress') reports.progress(body);
        else if (path === '/error') reports.error(body);
        else {
          try {
            reports.result(JSON.parse(body) as BrowserBenchResult);
          } catch (error) {
            reports.error(`the page posted a result that is not JSON: ${(error as Error).message}`);
          }
        }
      });
    } else if (path === '/') {
      response.writeHead(200, { ...headers, 'Content-Type': 'text/html; charset=utf-8' }).end(PAGE);
    } else if (path === '/worker.js') {
      response.writeHead(200, { ...headers, 'Content-Type': 'text/javascript; charset=utf-8' }).end(workerCode);
    } else if (path === '/config') {
      response.writeHead(200, { ...headers, 'Content-Type': 'application/json' }).end(JSON.stringify(config));
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

/** A generous guard on one browser's run: the expected run time three times over, plus two minutes for slow setup. */
function guardMs(config: BrowserBenchConfig): number {
  const expectedSeconds = config.sizes.length * 6 * (config.repeats * config.seconds + config.warmupSeconds);
  return (3 * expectedSeconds + 120) * 1000;
}

/** `work`, failing after `ms` with a message saying so. */
async function guarded<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the browser run took over ${(ms / 1000).toFixed(0)} s; aborted`)), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs `measure` and reports how busy the rest of the machine kept the CPUs meanwhile (Linux only). */
async function withContention<T>(measure: () => Promise<T>): Promise<{ value: T; contention?: { otherCpus: number; cpus: number } }> {
  const before = cpuSnapshot();
  const browserBefore = descendantsCpuSeconds(process.pid);
  const value = await measure();
  const after = cpuSnapshot();
  const browserAfter = descendantsCpuSeconds(process.pid);
  const contention =
    before && after && browserBefore !== undefined && browserAfter !== undefined
      ? { otherCpus: otherCpus(before, after, browserAfter - browserBefore), cpus: availableParallelism() }
      : undefined;
  return contention ? { value, contention } : { value };
}

/** Bundles, serves, runs the worker in `browser` and returns what it measured. */
export async function runInBrowser(browser: BrowserName, config: BrowserBenchConfig, progress: (line: string) => void): Promise<BrowserRun> {
  const executable = browser === 'chromium' ? CHROMIUM : FIREFOX;
  const variable = browser === 'chromium' ? 'MTCALL_CHROMIUM' : 'MTCALL_FIREFOX';
  if (!existsSync(executable)) throw new Error(`${executable} is missing: run scripts/setup.sh --browsers, or set ${variable}`);
  const workerCode = await bundleWorker(progress);
  return browser === 'chromium' ? runInChromium(workerCode, config, progress) : runInFirefox(workerCode, config, progress);
}

async function runInChromium(workerCode: string, config: BrowserBenchConfig, progress: (line: string) => void): Promise<BrowserRun> {
  let playwright: typeof import('playwright-core');
  try {
    playwright = await import('playwright-core');
  } catch (error) {
    throw new Error(`--browser needs playwright-core (a devDependency of the workspace; run npm install): ${(error as Error).message}`);
  }
  const unused = () => undefined;
  const { server, url } = await serve(workerCode, config, { progress: unused, result: unused, error: unused });
  const browser = await playwright.chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  try {
    const label = `${BROWSER_LABELS.chromium} ${browser.version()}`;
    const page = await browser.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (error) => pageErrors.push(error.message));
    await page.exposeFunction('mtcallBenchProgress', (line: string) => progress(line));
    await page.goto(url);
    await page.waitForFunction(() => (globalThis as unknown as { mtcallBenchReady?: boolean }).mtcallBenchReady === true);
    progress(`${label} at ${url}; sizes ${config.sizes.join(', ')} B; median of ${config.repeats} × ${config.seconds} s per row`);
    const measured = await withContention(async () => {
      try {
        return await guarded(
          page.evaluate(
            (cfg) => (globalThis as unknown as { mtcallBenchRun(c: typeof cfg): Promise<BrowserBenchResult> }).mtcallBenchRun(cfg),
            config,
          ),
          guardMs(config),
        );
      } catch (error) {
        const extra = pageErrors.length > 0 ? `; page errors: ${pageErrors.join(' | ')}` : '';
        throw new Error(`in the browser worker: ${(error as Error).message}${extra}`);
      }
    });
    return { result: measured.value, browser: label, ...(measured.contention ? { contention: measured.contention } : {}) };
  } finally {
    await browser.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** `firefox-esr --version` → `153.0` (or `unknown version`). */
function firefoxVersion(): string {
  try {
    const out = execFileSync(FIREFOX, ['--version'], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, MOZ_HEADLESS: '1' } });
    return /([0-9][0-9.]*[a-z]*)\s*$/.exec(out.trim())?.[1] ?? 'unknown version';
  } catch {
    return 'unknown version';
  }
}

async function runInFirefox(workerCode: string, config: BrowserBenchConfig, progress: (line: string) => void): Promise<BrowserRun> {
  const label = `${BROWSER_LABELS.firefox} ${firefoxVersion()}`;
  let settle!: { resolve(result: BrowserBenchResult): void; reject(error: Error): void };
  const done = new Promise<BrowserBenchResult>((resolve, reject) => (settle = { resolve, reject }));
  const { server, url } = await serve(workerCode, config, {
    progress,
    result: (result) => settle.resolve(result),
    error: (message) => settle.reject(new Error(`in the browser worker: ${message}`)),
  });
  const profile = mkdtempSync(join(tmpdir(), 'mtcall-bench-firefox-'));
  writeFileSync(join(profile, 'user.js'), Object.entries(FIREFOX_PREFS).map(([k, v]) => `user_pref(${JSON.stringify(k)}, ${JSON.stringify(v)});`).join('\n') + '\n');
  progress(`${label} at ${url}?auto (the page runs by itself); sizes ${config.sizes.join(', ')} B; median of ${config.repeats} × ${config.seconds} s per row`);
  const child = spawn(FIREFOX, ['--headless', '--no-remote', '--profile', profile, `${url}?auto`], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, MOZ_HEADLESS: '1' },
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2000)));
  child.on('exit', (code, signal) => settle.reject(new Error(`Firefox exited (${code ?? signal}) before the page reported: ${stderr.trim() || 'no output'}`)));
  try {
    const measured = await withContention(() => guarded(done, guardMs(config)));
    return { result: measured.value, browser: label, ...(measured.contention ? { contention: measured.contention } : {}) };
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(profile, { recursive: true, force: true });
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
