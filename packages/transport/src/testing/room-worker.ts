/**
 * TEST ONLY room worker entry (`@mtcall/transport/testing/room-worker`): the product room worker plus the plaintext
 * samples the SFU tap test searches the forwarded RTP for, and `ciphertextDiffers`. Never bundle it in a product.
 */

import { serveRoomWorker, type RoomWorkerScope } from '../room-worker-host.js';
import { differsFromPlaintext } from './index.js';

let ciphertextDiffers = 0;
const samples: string[] = [];
serveRoomWorker(globalThis as unknown as RoomWorkerScope, {
  sealed(plain, wire, options) {
    if (differsFromPlaintext(plain, wire)) ciphertextDiffers++;
    if (plain.length >= 256 && samples.length < 32 && options.kind === 'video') {
      const middle = plain.length >> 1;
      samples.push(Array.from(plain.subarray(middle, middle + 24), (b) => b.toString(16).padStart(2, '0')).join(''));
    } else if (options.kind === 'audio' && plain.length >= 40 && samples.length < 32 && samples.length % 2 === 1) {
      samples.push(Array.from(plain.subarray(8, 32), (b) => b.toString(16).padStart(2, '0')).join(''));
    }
  },
  stats: () => ({ ciphertextDiffers, plaintextSamples: [...samples] }),
});
