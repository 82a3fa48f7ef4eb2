#!/usr/bin/env node
/**
 * mtcall-bench: packets per second of @mtcall/crypto's seal and open per backend, against the bare
 * primitives on node:crypto (bound), AES-256-GCM per packet (gcm) and openssl speed (native).
 * With --browser: µs per frame of @mtcall/transport's FrameCryptor in a Chromium and a Firefox ESR worker against
 * WebCrypto AES-GCM.
 * Progress on stderr; a table, or with --json one JSON array of rows, on stdout.
 */

import { availableBackends, defaultBackend } from '@mtcall/crypto';
import { availableParallelism } from 'node:os';
import { cpuSnapshot, otherCpus } from './machine.js';
import { measureInterleaved, type Workload } from './measure.js';
import { measureNative, type NativeResult } from './openssl-speed.js';
import { parseOptions, USAGE, type Options } from './options.js';
import { boundWorkload, gcmWorkload, sha256Call } from './reference.js';
import { buildRows, evaluateTargets, type Measurement, type Op } from './report.js';
import { openWorkload, poolCount, randomBodies, randomKey, sealPackets, sealWorkload } from './scheme.js';
import { formatCount, formatRatio, formatTable } from './table.js';
import { buildBrowserRows, formatBrowserTable, type BrowserRow } from './browser-report.js';


function progress(line: string): void {
  process.stderr.write(`[bench] ${line}\n`);
}

interface Job {
  backend: string;
  op: Op;
  workload: Workload;
}

function run(options: Options): void {
  const all = availableBackends();
  const backends = options.backend === undefined ? all : all.filter((b) => b.name === options.backend);
  if (backends.length === 0) {
    throw new Error(`--backend ${options.backend ?? ''}: not available here (available: ${all.map((b) => b.name).join(', ')})`);
  }
  const fastest = all[0]!;
  const warmupSeconds = Math.min(0.1, options.seconds / 2);
  const rowsPerSize = 2 + 2 * backends.length;
  progress(
    `Node ${process.version}, sha256 via ${sha256Call}; sizes ${options.sizes.join(', ')} B; ${rowsPerSize} rows per size, ` +
      `median of ${options.repeats} × ${options.seconds} s each`,
  );

  // openssl first, alone: nothing of ours runs while it measures.
  let native: NativeResult | undefined;
  let nativeMissing = 'skipped (--no-native)';
  if (options.native) {
    try {
      native = measureNative(options.sizes, progress);
      if (!native) nativeMissing = 'openssl not found on PATH';
    } catch (error) {
      nativeMissing = `openssl speed failed: ${(error as Error).message}`;
      progress(nativeMissing);
    }
  }

  const measurements: Measurement[] = [];
  const cpuBefore = cpuSnapshot();
  for (const size of options.sizes) {
    const count = poolCount(size);
    const key = randomKey();
    const bodies = randomBodies(size, count);
    const packets = sealPackets(key, fastest, bodies); // identical bytes on every backend; the fastest seals quickest
    const jobs: Job[] = [
      { backend: 'node', op: 'bound', workload: boundWorkload(bodies) },
      { backend: 'node', op: 'gcm', workload: gcmWorkload(bodies) },
      ...backends.flatMap((b): Job[] => [
        { backend: b.name, op: 'seal', workload: sealWorkload(key, b, bodies) },
        { backend: b.name, op: 'open', workload: openWorkload(key, b, packets) },
      ]),
    ];
    progress(`${size} B: ${count} distinct bodies, warming up ${jobs.length} rows`);
    const results = measureInterleaved(
      jobs.map((j) => j.workload),
      { seconds: options.seconds, warmupSeconds, repeats: options.repeats },
    );
    jobs.forEach((job, i) => {
      const { median, repeats } = results[i]!;
      measurements.push({ backend: job.backend, op: job.op, size, packetsPerSec: median });
      progress(`${size} B ${job.backend} ${job.op}: ${formatCount(median)} pkt/s (repeats ${repeats.map(formatCount).join(' / ')})`);
    });
  }
  if (native) {
    for (const [size, packetsPerSec] of native.packetsPerSec) measurements.push({ backend: 'openssl', op: 'native', size, packetsPerSec });
  }

  const rows = buildRows(measurements);
  const targets = evaluateTargets(rows, defaultBackend.name);
  const cpuAfter = cpuSnapshot();
  const contention = cpuBefore && cpuAfter ? { otherCpus: otherCpus(cpuBefore, cpuAfter), cpus: availableParallelism() } : undefined;
  if (contention) progress(`other processes kept ${contention.otherCpus.toFixed(2)} of ${contention.cpus} CPUs busy during the measurements`);
  if (options.json) {
    for (const t of targets) progress(`target ${t.op} ≥ ${t.min}× ${t.reference} at ${t.size} B: ${formatRatio(t.ratio)} ${t.status}`);
    process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
  } else {
    process.stdout.write(
      formatTable(rows, targets, {
        seconds: options.seconds,
        repeats: options.repeats,
        nodeVersion: process.version,
        native: native ? { version: native.version } : { missing: nativeMissing },
        ...(contention ? { contention } : {}),
      }),
    );
  }
}

/** `--browser`: the same kind of report, from one worker in each browser in turn (browser.ts does the driving). */
async function runBrowser(options: Options): Promise<void> {
  // Loaded only in this mode, so the default run never loads Vite or playwright-core.
  const { runInBrowser } = await import('./browser.js');
  const config = { sizes: options.sizes, seconds: options.seconds, warmupSeconds: Math.min(0.2, options.seconds / 2), repeats: options.repeats };
  const allRows: BrowserRow[] = [];
  for (const browser of options.browsers) {
    const run = await runInBrowser(browser, config, (line) => progress(`${browser}: ${line}`));
    const rows = buildBrowserRows(run.result.measurements, browser);
    allRows.push(...rows);
    if (run.contention) progress(`${browser}: other processes kept ${run.contention.otherCpus.toFixed(2)} of ${run.contention.cpus} CPUs busy during the measurements`);
    if (options.json) continue;
    process.stdout.write(
      (allRows.length > rows.length ? '\n' : '') +
        formatBrowserTable(rows, {
          seconds: options.seconds,
          repeats: options.repeats,
          browser: run.browser,
          cryptoBackend: run.result.cryptoBackend,
          crossOriginIsolated: run.result.crossOriginIsolated,
          checkedSizes: run.result.checkedSizes,
          ...(run.contention ? { contention: run.contention } : {}),
        }),
    );
  }
  if (options.json) process.stdout.write(`${JSON.stringify(allRows, null, 2)}\n`);
}

async function main(argv: readonly string[]): Promise<number> {
  let options: Options;
  try {
    options = parseOptions(argv);
  } catch (error) {
    process.stderr.write(`mtcall-bench: ${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (options.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  try {
    if (options.browser) await runBrowser(options);
    else run(options);
  } catch (error) {
    process.stderr.write(`mtcall-bench: ${(error as Error).message}\n`);
    return 1;
  }
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
