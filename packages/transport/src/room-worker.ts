/**
 * The room encryption worker entry (`@mtcall/transport/room-worker`): one per room member, hosting every producer
 * and consumer transform (room-worker-host.ts) with the policy of room-worker-core.ts and one crypto path,
 * `RoomFrameCryptor`.
 */

import { serveRoomWorker, type RoomWorkerScope } from './room-worker-host.js';

serveRoomWorker(globalThis as unknown as RoomWorkerScope);
