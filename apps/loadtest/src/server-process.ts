/**
 * The signaling server under test, in its own process: `node …/signaling/dist/cli.js --port 0 --quiet --rate R`
 * on 127.0.0.1. The URL is read from the line the server prints; its memory is sampled from /proc.
 */

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { processMemory } from './machine.js';

/** The built CLI of @mtcall/signaling. */
export function signalingCliPath(): string {
  const require = createRequire(import.meta.url);
  const cli = join(dirname(require.resolve('@mtcall/signaling/package.json')), 'dist', 'cli.js');
  if (!existsSync(cli)) throw new Error(`${cli} does not exist: build first (npm run build)`);
  return cli;
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface MemoryFigures {
  /** RSS when the server had just started listening (bytes). */
  start: number;
  /** Highest RSS seen: the larger of the samples and the kernel's high-water mark VmHWM (bytes). */
  peak: number;
  /** Last sample (bytes). */
  last: number;
  samples: number;
}

export class ServerProcess {
  readonly url: string;
  readonly pid: number;
  /** Resolves when the process exits, for whatever reason. */
  readonly exited: Promise<ExitInfo>;
  #exit: ExitInfo | undefined;
  #stopping = false;
  readonly #child: ChildProcess;
  #stderr = '';
  #memory: MemoryFigures | undefined;
  #sampler: ReturnType<typeof setInterval> | undefined;
  readonly #killOnExit = () => this.#child.kill('SIGKILL');

  private constructor(child: ChildProcess, url: string, exited: Promise<ExitInfo>) {
    this.#child = child;
    this.url = url;
    this.pid = child.pid!;
    this.exited = exited;
    void exited.then((info) => (this.#exit = info));
    child.stderr!.on('data', (chunk: Buffer) => {
      this.#stderr = (this.#stderr + chunk.toString()).slice(-4000);
    });
    process.once('exit', this.#killOnExit);
    const first = processMemory(this.pid);
    if (first) this.#memory = { start: first.rss, peak: Math.max(first.rss, first.hwm), last: first.rss, samples: 1 };
  }

  /** Starts the server and waits for its URL. */
  static async start(options: { rate: number; timeoutMs: number; extraArgs?: readonly string[] }): Promise<ServerProcess> {
    const args = [signalingCliPath(), '--host', '127.0.0.1', '--port', '0', '--quiet', '--rate', String(options.rate), '--max-conns-per-ip', '0', ...(options.extraArgs ?? [])];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    const exited = new Promise<ExitInfo>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    let stderr = '';
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`the signaling server did not print its URL within ${options.timeoutMs} ms: ${stderr.trim()}`));
      }, options.timeoutMs);
      const onData = (chunk: Buffer) => {
        stderr += chunk.toString();
        const match = /listening on (ws:\/\/\S+)/.exec(stderr);
        if (match) {
          clearTimeout(timer);
          child.stderr!.off('data', onData);
          resolve(match[1]!);
        }
      };
      child.stderr!.on('data', onData);
      child.once('error', (error) => {
        clearTimeout(timer);
        reject(new Error(`cannot start the signaling server: ${error.message}`));
      });
      void exited.then(({ code, signal }) => {
        clearTimeout(timer);
        reject(new Error(`the signaling server exited (${signal ?? `code ${code}`}) before listening: ${stderr.trim()}`));
      });
    });
    return new ServerProcess(child, url, exited);
  }

  /** Set once the process has exited. */
  get exitInfo(): ExitInfo | undefined {
    return this.#exit;
  }

  /** The tail of what the server wrote to stderr after its "listening on" line (for a crash report). */
  get stderrTail(): string {
    return this.#stderr;
  }

  /** Memory figures so far, or undefined where /proc is not readable. */
  get memory(): MemoryFigures | undefined {
    return this.#memory ? { ...this.#memory } : undefined;
  }

  /** Reads VmRSS/VmHWM now; returns the RSS in bytes. */
  sampleMemory(): number | undefined {
    if (this.#exit) return undefined;
    const m = processMemory(this.pid);
    if (!m) return undefined;
    if (!this.#memory) this.#memory = { start: m.rss, peak: 0, last: m.rss, samples: 0 };
    this.#memory.peak = Math.max(this.#memory.peak, m.rss, m.hwm);
    this.#memory.last = m.rss;
    this.#memory.samples++;
    return m.rss;
  }

  /** Samples memory every `intervalMs` until `stop()`. */
  startSampling(intervalMs: number): void {
    this.#sampler = setInterval(() => this.sampleMemory(), intervalMs);
    this.#sampler.unref();
  }

  /** True when the process exited although nobody asked it to. */
  get crashed(): boolean {
    return this.#exit !== undefined && !this.#stopping;
  }

  /** SIGKILL now, as a crash would (the load test's failover phase); not reported as a crash. */
  kill(): void {
    if (this.#sampler) clearInterval(this.#sampler);
    process.off('exit', this.#killOnExit);
    this.#stopping = true;
    this.#child.kill('SIGKILL');
  }

  /** SIGTERM (the server closes its connections and exits 0); SIGKILL after `graceMs`. */
  async stop(graceMs = 5000): Promise<ExitInfo> {
    if (this.#sampler) clearInterval(this.#sampler);
    process.off('exit', this.#killOnExit);
    if (this.#exit) return this.#exit;
    this.#stopping = true;
    this.#child.kill('SIGTERM');
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), graceMs);
    const info = await this.exited;
    clearTimeout(timer);
    return info;
  }
}
