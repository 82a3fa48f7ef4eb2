/**
 * Network namespaces for the end-to-end tests (root and iproute2 needed): a few namespaces, each joined to the host
 * by one veth pair on its own /24, with no route between them; a shared address on the host's lo (where coturn
 * relays from) routed from every namespace. Links can be cut and restored (`ip link set … down/up`) and processes
 * run inside a namespace (`ip netns exec`). Namespaces are machine-wide: each test file uses its own names and
 * subnets so that two files never collide.
 */

import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** One namespace: its name, the veth pair (≤ 15 characters each) and the two ends' addresses on a /24. */
export interface Namespace {
  name: string;
  /** The host side's address: the namespace's gateway, and where host services are reached from inside. */
  host: string;
  /** The address inside the namespace. */
  peer: string;
  vethHost: string;
  vethNs: string;
}

/** A set of namespaces plus the host address every one of them routes to. */
export interface NetnsLayout {
  namespaces: Namespace[];
  /** An address added to the host's lo (e.g. coturn's relayed address), routed from every namespace. */
  sharedIp: string;
}

/** Runs `ip` with these arguments (never throws: read `status` and `stderr`). */
export function ip(...args: string[]): SpawnSyncReturns<string> {
  return spawnSync('ip', args, { encoding: 'utf8' });
}

/** Removes everything `createNamespaces` may have made (missing pieces are fine). */
export function destroyNamespaces(layout: NetnsLayout): void {
  ip('addr', 'del', `${layout.sharedIp}/32`, 'dev', 'lo');
  for (const ns of layout.namespaces) {
    ip('link', 'del', ns.vethHost);
    ip('netns', 'del', ns.name);
  }
}

/**
 * Builds the layout from scratch (leftovers of an earlier run are removed first).
 * @returns undefined on success, else the first `ip` command that failed and why (the caller tears down).
 */
export function createNamespaces(layout: NetnsLayout): string | undefined {
  destroyNamespaces(layout);
  const steps: string[][] = [['addr', 'add', `${layout.sharedIp}/32`, 'dev', 'lo']];
  for (const ns of layout.namespaces) {
    steps.push(
      ['netns', 'add', ns.name],
      ['link', 'add', ns.vethHost, 'type', 'veth', 'peer', 'name', ns.vethNs],
      ['link', 'set', ns.vethNs, 'netns', ns.name],
      ['addr', 'add', `${ns.host}/24`, 'dev', ns.vethHost],
      ['link', 'set', ns.vethHost, 'up'],
      ['-n', ns.name, 'addr', 'add', `${ns.peer}/24`, 'dev', ns.vethNs],
      ['-n', ns.name, 'link', 'set', ns.vethNs, 'up'],
      ['-n', ns.name, 'link', 'set', 'lo', 'up'],
      ['-n', ns.name, 'route', 'add', `${layout.sharedIp}/32`, 'via', ns.host],
    );
  }
  for (const args of steps) {
    const r = ip(...args);
    if (r.status !== 0) return `ip ${args.join(' ')}: ${r.stderr.trim()}`;
  }
  return undefined;
}

/**
 * Whether this machine can build the layout: needs root; tries it once and tears it down.
 * @returns undefined when it can, else why not.
 */
export function namespacesProblem(layout: NetnsLayout): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root';
  const problem = createNamespaces(layout);
  destroyNamespaces(layout);
  return problem;
}

/**
 * Cuts or restores a namespace's only link, from inside (the namespace's end of the veth pair: its address and
 * routes go away while it is down; both are restored with it, the route re-added if the kernel dropped it).
 * @throws Error when `ip` fails.
 */
export function setLink(ns: Namespace, layout: NetnsLayout, up: boolean): void {
  const r = ip('-n', ns.name, 'link', 'set', ns.vethNs, up ? 'up' : 'down');
  if (r.status !== 0) throw new Error(`ip -n ${ns.name} link set ${ns.vethNs} ${up ? 'up' : 'down'}: ${r.stderr.trim()}`);
  if (up && ip('-n', ns.name, 'route', 'get', layout.sharedIp).status !== 0) ip('-n', ns.name, 'route', 'add', `${layout.sharedIp}/32`, 'via', ns.host);
}

/**
 * Moves a namespace to another address on its veth (as a phone handed a new address): `from` is deleted, then `to`
 * added on the same /24 (in that order: deleting a primary address deletes its secondaries). The host end stays;
 * the route to the shared address, dropped with the last address, is re-added. Sockets bound to `from` are left
 * with an address that is no longer there.
 * @throws Error when `ip` fails.
 */
export function moveAddress(ns: Namespace, layout: NetnsLayout, from: string, to: string): void {
  for (const args of [
    ['-n', ns.name, 'addr', 'del', `${from}/24`, 'dev', ns.vethNs],
    ['-n', ns.name, 'addr', 'add', `${to}/24`, 'dev', ns.vethNs],
  ]) {
    const r = ip(...args);
    if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr.trim()}`);
  }
  if (ip('-n', ns.name, 'route', 'get', layout.sharedIp).status !== 0) ip('-n', ns.name, 'route', 'add', `${layout.sharedIp}/32`, 'via', ns.host);
}

/** The command line that runs `command args…` inside the namespace. */
export function inNamespace(ns: Namespace, command: string, args: string[] = []): [string, string[]] {
  return ['ip', ['netns', 'exec', ns.name, command, ...args]];
}

/**
 * Writes an executable wrapper into `dir` that runs `executable` (with whatever arguments it is given) inside the
 * namespace — for launchers that take an executable path (playwright's `executablePath`).
 * @returns the wrapper's path.
 */
export function namespaceWrapper(dir: string, ns: Namespace, executable: string): string {
  const wrapper = join(dir, `${executable.split('/').at(-1)}-${ns.name}`);
  writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${ns.name} ${executable} "$@"\n`);
  chmodSync(wrapper, 0o755);
  return wrapper;
}
