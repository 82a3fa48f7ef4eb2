/** Starts and stops the probe worker (see probe.ts). */

import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { ProbeData, ProbeMessage } from './probe.js';
import { summarize, type Summary } from './stats.js';

export interface ProbeResult {
  calls: number;
  completed: number;
  setupMs: Summary;
  rttMs: Summary;
  errors: Record<string, number>;
}

/** The compiled worker script: next to this file in dist/, or in ../dist/ when this file runs from src/ (vitest). */
function probeScript(): string | undefined {
  const here = import.meta.url;
  const url = new URL(here.endsWith('.ts') ? '../dist/probe.js' : './probe.js', here);
  const path = fileURLToPath(url);
  return existsSync(path) ? path : undefined;
}

export class Probe {
  readonly #worker: Worker;
  readonly #result: Promise<ProbeMessage & { type: 'result' }>;

  private constructor(worker: Worker, result: Promise<ProbeMessage & { type: 'result' }>) {
    this.#worker = worker;
    this.#result = result;
  }

  /** Starts the probe and waits until its two clients are connected; a string says why there is no probe. */
  static async start(url: string, messages: number, pauseMs: number, timeoutMs: number): Promise<Probe | string> {
    const script = probeScript();
    if (!script) return 'dist/probe.js is missing (build first)';
    const worker = new Worker(script, { workerData: { url, messages, pauseMs } satisfies ProbeData });
    let onReady!: () => void;
    const ready = new Promise<void>((resolve) => (onReady = resolve));
    const result = new Promise<ProbeMessage & { type: 'result' }>((resolve, reject) => {
      worker.on('message', (message: ProbeMessage) => {
        if (message.type === 'ready') onReady();
        else resolve(message);
      });
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`the probe exited (code ${code}) without a result`)));
    });
    result.catch(() => undefined);
    const failed = result.then(
      () => 'the probe ended early',
      (error: Error) => error.message,
    );
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<string>((resolve) => (timer = setTimeout(() => resolve(`the probe did not connect within ${timeoutMs} ms`), timeoutMs)));
    const outcome = await Promise.race([ready.then(() => undefined), failed, timeout]);
    clearTimeout(timer);
    if (outcome !== undefined) {
      await worker.terminate();
      return outcome;
    }
    return new Probe(worker, result);
  }

  /** Asks the probe to finish its current call and report; a string says why there is no result. */
  async stop(timeoutMs: number): Promise<ProbeResult | string> {
    this.#worker.postMessage('stop');
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<string>((resolve) => (timer = setTimeout(() => resolve(`the probe did not report within ${timeoutMs} ms`), timeoutMs)));
    const outcome = await Promise.race([this.#result.catch((error: Error) => error.message), timeout]);
    clearTimeout(timer);
    await this.#worker.terminate();
    if (typeof outcome === 'string') return outcome;
    return { calls: outcome.calls, completed: outcome.completed, setupMs: summarize(outcome.setupMs), rttMs: summarize(outcome.rttMs), errors: outcome.errors };
  }

  /** Stops it without waiting for a result. */
  kill(): void {
    void this.#worker.terminate();
  }
}
