// mtcall-peer for tests that run it inside a network namespace (`ip netns exec <ns> node netns-peer.mjs <json>`):
// startPeer with the options given as one JSON argument, then its live report as one JSON line on stdout every
// 250 ms (the parent reads the last one). Exits on SIGTERM after closing the peer.
import { startPeer } from '@mtcall/peer/dist/run.js';

const options = JSON.parse(process.argv[2] ?? '{}');
const peer = await startPeer({ ...options, log: (line) => process.stderr.write(`[netns-peer] ${line}\n`) });
const timer = setInterval(() => {
  const report = peer.report();
  process.stdout.write(JSON.stringify({ at: Date.now(), report: report ?? null }) + '\n');
}, 250);
process.once('SIGTERM', () => {
  clearInterval(timer);
  void peer.close().finally(() => process.exit(0));
});
