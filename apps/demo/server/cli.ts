#!/usr/bin/env node
/** mtcall-demo as a command: the demo server (server.ts) with flags, optionally with coturn beside it. */

import { parseArgs } from 'node:util';
import { startDemoServer } from './server.js';
import { startRelay, type RunningRelay } from './relay.js';

const HELP = `mtcall-demo — the mtcall web demo and its signaling server on one port

Usage: mtcall-demo [--port 8080] [--host 127.0.0.1] [--relay] [--rooms] [--mitm] [--quiet]

  --port <n>    HTTP port (default 8080; 0 picks a free one)
  --host <a>    interface (default 127.0.0.1; browsers need 127.0.0.1/localhost or HTTPS for camera access)
  --relay       also start a TURN relay (Debian's coturn) on 127.0.0.1 and hand every device short-lived
                credentials for it; tick "Relay only" in the page (or open it with ?relay=1) to force it
  --rooms       rooms (group calls): start the SFU (mediasoup workers, built by scripts/setup.sh) in this
                process; the page then offers "Join room"
  --mitm        DEMONSTRATION ONLY: the server becomes a man in the middle; the two sides see different emoji
  --quiet       no signaling log
  -h, --help    this text

Open the printed URL in two browsers (or two windows), sign in with two names, call.`;

{
  try {
    const { values } = parseArgs({
      options: {
        port: { type: 'string', default: '8080' },
        host: { type: 'string', default: '127.0.0.1' },
        mitm: { type: 'boolean', default: false },
        rooms: { type: 'boolean', default: false },
        relay: { type: 'boolean', default: false },
        quiet: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
    if (values.help) {
      process.stdout.write(HELP + '\n');
    } else {
      let relay: RunningRelay | undefined;
      if (values.relay) {
        relay = await startRelay();
        process.stderr.write(`coturn relaying on 127.0.0.1:${relay.port}\n`);
      }
      const server = await startDemoServer({ port: Number(values.port), host: values.host, mitm: values.mitm, rooms: values.rooms, log: !values.quiet, ...(relay ? { turn: relay.turn } : {}) }).catch(async (error: unknown) => {
        await relay?.stop();
        throw error;
      });
      process.stderr.write(`mtcall demo running at ${server.url}  (open it in two browsers${relay ? `; ${server.url}?relay=1 forces the relay` : ''})\n`);
      if (values.mitm) process.stderr.write('!!! --mitm: the server is a MAN IN THE MIDDLE (demonstration). The emoji will NOT match. !!!\n');
      const stop = () => void server.close().then(() => relay?.stop()).then(() => process.exit(0));
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    }
  } catch (error) {
    process.stderr.write(`mtcall-demo: ${(error as Error).message}\nTry --help.\n`);
    process.exit(2);
  }
}
