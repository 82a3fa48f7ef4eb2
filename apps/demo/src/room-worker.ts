/** The demo's room encryption worker: mtcall's room worker, nothing else. */
import '@mtcall/transport/room-worker';
