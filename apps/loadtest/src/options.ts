/** Command-line options of mtcall-loadtest. Pure: parsing never touches the environment. */

import { parseArgs } from 'node:util';

export const DEFAULTS = {
  connections: 1000,
  calls: 500,
  messages: 5,
  timeoutSeconds: 120,
  garbage: 0.1,
  garbageRate: 20,
  serverRate: 100_000,
  rampSeconds: 0,
  seed: 1,
} as const;

export const USAGE = `Usage: mtcall-loadtest [options]
       mtcall-loadtest presence [options]   what presence costs per join (--help for its options)
       mtcall-loadtest --instances N --redis [options]   a signaling cluster on Redis, with a kill (--help there)

Starts one mtcall signaling server (node packages/signaling/dist/cli.js) in a child process on 127.0.0.1, opens
N client connections to it from this process and places M calls between pairs of them with the real
SignalingClient: requestCall → acceptCall → confirmCall (a real 2048-bit DH on both sides), then K sealed
packets each way through SecureSignalingChannel with the agreed key (a ping-pong), then hang-up.

Calls run in waves of one call per caller/callee pair (a user in a call is busy): every call of a wave is set
up, and with all of them up at once (N/2 concurrent calls on the server), each exchanges its packets and hangs
up. Starts are handed out one per event-loop turn of this process (or spread over --ramp seconds), so replies
to earlier calls are read in between. A probe pair in a worker thread places calls one after another meanwhile:
its figures are what a user with an idle device sees from the loaded server.

With --garbage F, a fraction F of the connections send garbage the whole time instead: random bytes, bad JSON,
invalid and out-of-state messages, frames over the size limits, floods and ring spam at the good users. The
report says whether every good call still completed, and compares its latency with a clean run.

Options:
  --connections N     client connections (default ${DEFAULTS.connections})
  --calls M           calls to place in total (default ${DEFAULTS.calls})
  --messages K        sealed signaling packets each way per call (default ${DEFAULTS.messages})
  --garbage F         fraction of the connections that send garbage, 0..0.9; alone, runs only the garbage run;
                      0 runs only a clean run with every connection well-behaved
  --compare           run clean first, then with garbage (the clean run keeps the garbage connections open but
                      quiet, so both runs have the same sockets and the same good calls)
  --garbage-rate R    average frames per second per garbage connection, floods included (default ${DEFAULTS.garbageRate})
  --ramp S            spread the call starts evenly over S seconds (default ${DEFAULTS.rampSeconds}: all at once)
  --server-rate R     the server's --rate, messages/s per connection (default ${DEFAULTS.serverRate}: the load is not
                      rate-limited, and neither are the floods, which then cost the server the most)
  --seed N            seed of the garbage (default ${DEFAULTS.seed})
  --timeout S         abort the whole invocation after S seconds (default ${DEFAULTS.timeoutSeconds})
  --json              print one JSON object on stdout instead of the report
  -h, --help          print this help

Without --garbage and --compare, it runs --compare --garbage ${DEFAULTS.garbage} (what \`npm run loadtest\` does).
Progress goes to stderr, the report to stdout. Exit status: 0 when every good call completed without an error
and every garbage connection got error replies, 1 when not, 2 on bad options, 3 on timeout.
Loopback only; every run starts its own server process and stops it at the end.
`;

export type RunKind = 'clean' | 'garbage';

export interface Options {
  help: boolean;
  json: boolean;
  connections: number;
  calls: number;
  messages: number;
  timeoutSeconds: number;
  /** Fraction of the connections that are garbage connections (quiet in the clean run of a comparison). */
  garbage: number;
  runs: RunKind[];
  garbageRate: number;
  serverRate: number;
  rampSeconds: number;
  seed: number;
}

function number(name: string, text: string | undefined, fallback: number, check: (n: number) => boolean, rule: string): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || !check(n)) throw new Error(`--${name} must be ${rule}; got ${JSON.stringify(text)}`);
  return n;
}

const integerIn = (min: number, max: number) => (n: number) => Number.isInteger(n) && n >= min && n <= max;

/** Parses argv (without node and the script); throws an Error with a readable message on bad input. */
export function parseOptions(argv: readonly string[]): Options {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      help: { type: 'boolean', short: 'h', default: false },
      json: { type: 'boolean', default: false },
      compare: { type: 'boolean', default: false },
      connections: { type: 'string' },
      calls: { type: 'string' },
      messages: { type: 'string' },
      timeout: { type: 'string' },
      garbage: { type: 'string' },
      'garbage-rate': { type: 'string' },
      'server-rate': { type: 'string' },
      ramp: { type: 'string' },
      seed: { type: 'string' },
    },
  });
  const connections = number('connections', values.connections, DEFAULTS.connections, integerIn(2, 20_000), 'an integer in 2..20000');
  const calls = number('calls', values.calls, DEFAULTS.calls, integerIn(1, 1_000_000), 'an integer in 1..1000000');
  const messages = number('messages', values.messages, DEFAULTS.messages, integerIn(0, 10_000), 'an integer in 0..10000');
  const timeoutSeconds = number('timeout', values.timeout, DEFAULTS.timeoutSeconds, (n) => n > 0 && n <= 86_400, 'a number of seconds in (0, 86400]');
  const garbageRate = number('garbage-rate', values['garbage-rate'], DEFAULTS.garbageRate, (n) => n > 0 && n <= 10_000, 'a number in (0, 10000]');
  const serverRate = number('server-rate', values['server-rate'], DEFAULTS.serverRate, integerIn(1, 1e9), 'a positive integer');
  const rampSeconds = number('ramp', values.ramp, DEFAULTS.rampSeconds, (n) => n >= 0 && n <= 3600, 'a number of seconds in [0, 3600]');
  const seed = number('seed', values.seed, DEFAULTS.seed, integerIn(0, 2 ** 32 - 1), 'an integer in 0..4294967295');

  let garbage: number;
  let runs: RunKind[];
  if (values.garbage === undefined) {
    garbage = DEFAULTS.garbage;
    runs = ['clean', 'garbage'];
  } else {
    garbage = number('garbage', values.garbage, 0, (n) => n >= 0 && n <= 0.9, 'a fraction in [0, 0.9]');
    if (garbage === 0 && values.compare) throw new Error('--compare needs --garbage above 0');
    runs = garbage === 0 ? ['clean'] : values.compare ? ['clean', 'garbage'] : ['garbage'];
  }
  const garbageConnections = garbageCount(connections, garbage);
  if (garbage > 0 && garbageConnections === 0) throw new Error(`--garbage ${garbage} of ${connections} connections is less than one connection`);
  if (connections - garbageConnections < 2) throw new Error(`--garbage ${garbage} leaves fewer than 2 well-behaved connections (one caller, one callee)`);
  return { help: values.help, json: values.json, connections, calls, messages, timeoutSeconds, garbage, runs, garbageRate, serverRate, rampSeconds, seed };
}

/** How many of `connections` are garbage connections at fraction `garbage`. */
export function garbageCount(connections: number, garbage: number): number {
  return Math.round(connections * garbage);
}
