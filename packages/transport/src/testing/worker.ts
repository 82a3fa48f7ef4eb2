/**
 * TEST ONLY worker entry (`@mtcall/transport/testing/worker`): the product encryption worker with the diagnostics
 * of `testWorkerHooks`, configured by a `TestHooksMessage` the test page posts before the key. Never bundle it in
 * a product: the demo's production build uses `@mtcall/transport/worker`.
 */

import { serveEncryptionWorker, type WorkerScope } from '../worker-host.js';
import type { ToWorker } from '../worker-protocol.js';
import { testWorkerHooks, type TestHooksMessage } from './index.js';

const settings: TestHooksMessage = { type: 'test-hooks' };
const scope = globalThis as unknown as WorkerScope;
serveEncryptionWorker(scope, testWorkerHooks(settings));
const product = scope.onmessage!;
scope.onmessage = (event) => {
  const message = event.data as ToWorker | TestHooksMessage;
  if (message.type === 'test-hooks') Object.assign(settings, message);
  else product(event);
};
