/**
 * The benchmark worker's glue: waits for one config from the page, runs every row, posts progress lines and the
 * result (or the error) back. The FrameCryptor class comes from the bundle's entry, which imports it from
 * @mtcall/transport (see browser.ts): this package's own build never needs transport's types.
 */

import { loadWasmBackend } from '@mtcall/crypto';
import { runBrowserBench, type FrameCryptorClass } from './browser-bench.js';
import type { BrowserBenchConfig, FromBenchWorker } from './browser-protocol.js';

interface WorkerScope {
  postMessage(message: FromBenchWorker): void;
  onmessage: ((event: { data: BrowserBenchConfig }) => void) | null;
}

/** Installs the message handler on the worker's global scope. */
export function startBenchWorker(FrameCryptor: FrameCryptorClass): void {
  const scope = globalThis as unknown as WorkerScope;
  let started = false;
  scope.onmessage = (event) => {
    if (started) return; // one run per worker
    started = true;
    // As the encryption worker does at start (worker-host.ts): cryptors made afterwards use the WebAssembly SHA-256.
    loadWasmBackend()
      .catch(() => undefined)
      .then(() => runBrowserBench(event.data, FrameCryptor, (line) => scope.postMessage({ type: 'progress', line })))
      .then(
      (result) => scope.postMessage({ type: 'done', result }),
      (error: unknown) => scope.postMessage({ type: 'error', message: error instanceof Error ? (error.stack ?? error.message) : String(error) }),
    );
  };
}
