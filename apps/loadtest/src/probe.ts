/**
 * Worker-thread entry of the probe: one more caller/callee pair, in its own thread (own event loop), placing
 * one call after another (set-up, K sealed packets each way, hang-up, a pause) while the load runs. Its figures
 * are what a user whose own device is idle sees from the loaded server; the load calls' figures include the
 * queue of the one thread that drives 900 clients.
 */

import { parentPort, workerData } from 'node:worker_threads';
import { CallPhase, GoodFleet } from './good.js';
import { Counter } from './stats.js';

export interface ProbeData {
  url: string;
  messages: number;
  pauseMs: number;
}

export type ProbeMessage =
  | { type: 'ready' }
  | { type: 'result'; calls: number; completed: number; setupMs: number[]; rttMs: number[]; errors: Record<string, number> };

const data = workerData as ProbeData;
const port = parentPort!;
let stopping = false;
let wake: (() => void) | undefined;
port.on('message', (message) => {
  if (message === 'stop') {
    stopping = true;
    wake?.();
  }
});

const errors = new Counter();
const fleet = new GoodFleet(data.url, ['probe-caller', 'probe-callee'], errors);
await fleet.connect(2, () => undefined);
// One call first, not counted: this thread's JIT starts cold.
await new CallPhase(fleet.pairs, { calls: 1, messages: data.messages, rampSeconds: 0 }, errors).run();
port.postMessage({ type: 'ready' } satisfies ProbeMessage);
const setupMs: number[] = [];
const rttMs: number[] = [];
let calls = 0;
let completed = 0;
while (!stopping && fleet.pairs.length > 0) {
  const result = await new CallPhase(fleet.pairs, { calls: 1, messages: data.messages, rampSeconds: 0 }, errors).run();
  calls += result.launched;
  completed += result.completed;
  setupMs.push(...result.setupMs);
  rttMs.push(...result.rttMs);
  if (!stopping) {
    await new Promise<void>((resolve) => {
      wake = resolve;
      setTimeout(resolve, data.pauseMs);
    });
  }
}
port.postMessage({ type: 'result', calls, completed, setupMs, rttMs, errors: errors.toObject() } satisfies ProbeMessage);
fleet.close();
