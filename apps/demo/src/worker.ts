// The encryption worker: the transport package's worker entry, bundled by Vite.
import '@mtcall/transport/worker';
