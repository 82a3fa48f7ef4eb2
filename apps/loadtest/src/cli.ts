#!/usr/bin/env node
/**
 * mtcall-loadtest: N client connections and M calls against one signaling server process on loopback, optionally
 * with a share of the connections sending garbage. Progress on stderr; the report, or with --json one JSON
 * object, on stdout.
 */

import { parseOptions, USAGE, type Options } from './options.js';
import { formatReport } from './report.js';
import { runLoadTest, TimeoutError } from './run.js';
import { CLUSTER_USAGE, formatClusterReport, parseClusterOptions, runClusterScenario, type ClusterOptions } from './cluster.js';
import { formatPresenceReport, parsePresenceOptions, PRESENCE_USAGE, runPresenceScenario, type PresenceScenarioOptions } from './presence.js';

function progress(line: string): void {
  process.stderr.write(`[loadtest] ${line}\n`);
}

async function presence(argv: readonly string[]): Promise<number> {
  let options: PresenceScenarioOptions;
  try {
    options = parsePresenceOptions(argv);
  } catch (error) {
    process.stderr.write(`mtcall-loadtest presence: ${(error as Error).message}\n\n${PRESENCE_USAGE}`);
    return 2;
  }
  if (options.help) {
    process.stdout.write(PRESENCE_USAGE);
    return 0;
  }
  progress(`presence: ${options.subscribers} subscribers, ${options.mode}${options.mode === 'watch' ? ` (${options.watch} contacts each)` : ''}`);
  try {
    const result = await runPresenceScenario(options, progress);
    process.stdout.write(options.json ? `${JSON.stringify(result, null, 2)}\n` : formatPresenceReport(result));
    return 0;
  } catch (error) {
    process.stderr.write(`mtcall-loadtest presence: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}

async function cluster(argv: readonly string[]): Promise<number> {
  let options: ClusterOptions;
  try {
    options = parseClusterOptions(argv);
  } catch (error) {
    process.stderr.write(`mtcall-loadtest: ${(error as Error).message}\n\n${CLUSTER_USAGE}`);
    return 2;
  }
  if (options.help) {
    process.stdout.write(CLUSTER_USAGE);
    return 0;
  }
  progress(`cluster: ${options.instances} instances, ${options.connections} connections, ${options.calls} calls${options.kill ? ', one instance killed' : ''}`);
  try {
    const result = await runClusterScenario(options, progress);
    process.stdout.write(options.json ? `${JSON.stringify(result, null, 2)}\n` : formatClusterReport(result));
    const ok = result.cluster.established === options.calls && (!result.kill || result.kill.reconnected === result.kill.affectedClients);
    return ok ? 0 : 1;
  } catch (error) {
    process.stderr.write(`mtcall-loadtest: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}

async function main(argv: readonly string[]): Promise<number> {
  if (argv[0] === 'presence') return presence(argv.slice(1));
  if (argv.includes('--instances') || argv.includes('--redis')) return cluster(argv);
  let options: Options;
  try {
    options = parseOptions(argv);
  } catch (error) {
    process.stderr.write(`mtcall-loadtest: ${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (options.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  progress(
    `${options.runs.join(' then ')} run${options.runs.length > 1 ? 's' : ''}: ${options.connections} connections, ${options.calls} calls, ` +
      `${options.messages} packets each way${options.runs.includes('garbage') ? `, garbage ${options.garbage}` : ''}; timeout ${options.timeoutSeconds} s`,
  );
  try {
    const result = await runLoadTest(options, progress);
    process.stdout.write(options.json ? `${JSON.stringify(result, null, 2)}\n` : formatReport(result));
    return result.ok ? 0 : 1;
  } catch (error) {
    if (error instanceof TimeoutError) {
      process.stderr.write(`mtcall-loadtest: ABORTED: ${error.message}. Raise --timeout, or lower --connections/--calls.\n`);
      return 3;
    }
    process.stderr.write(`mtcall-loadtest: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}

const code = await main(process.argv.slice(2));
process.exitCode = code;
// Everything is closed by now; should a socket linger, do not hang the shell on it.
setTimeout(() => process.exit(code), 3000).unref();
