// TEST BUILD ONLY: the encryption worker with the test diagnostics (see @mtcall/transport/testing).
import '@mtcall/transport/testing/worker';
