/** The SDK's frame-encryption worker: mtcall's encoded-transform worker, nothing else. */
import '@mtcall/transport/worker';
