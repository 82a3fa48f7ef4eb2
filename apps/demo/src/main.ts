/**
 * The production entry of the demo (index.html): the app as people use it. The only URL parameter read here is
 * `?relay=1` (start with "Relay only" ticked). Test hooks live in the test entry (test/main.ts), which only the
 * test build (`vite build --mode test`, dist-test/) contains.
 */

import { startApp } from './app.js';

const params = new URLSearchParams(location.search);
startApp({ relayOnly: params.has('relay') && params.get('relay') !== '0' });
