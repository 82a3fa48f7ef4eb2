#!/usr/bin/env node
/**
 * mtcall-peer: a headless call endpoint. Signs in to the signaling server, answers or places one call, runs
 * WebRTC with werift, opens the peer's sealed Opus frames with FrameCryptor, decodes them and reports what it
 * heard; sends a sealed tone (or, in echo mode, what it received, re-sealed in its own direction).
 * Progress on stderr; the final report as one JSON line on stdout.
 */

import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { encodeWav } from './audio.js';
import { SAMPLE_RATE } from './media.js';
import { startPeer, type RunningPeer } from './run.js';
import { RoomBot } from './room-bot.js';
import { runChat } from './chat.js';
import type { SendMode } from './peer.js';

export const USAGE = `Usage: mtcall-peer <mode> [options]

Modes:
  answer             wait for a call, accept it, print the emoji, send a tone back
  call <user>        call <user>, print the emoji, send a tone
  echo               wait for a call, accept it, send back every frame received (re-sealed in our direction)
  join <room>        join a room (group call through the server's SFU; the server runs with --rooms) as a
                     receive-only bot: take part in the group key scheme, print the room code, open and decode
                     every member's frames; --duration then leave (default: until Ctrl-C)
  chat <user>        a secret chat with <user> (end-to-end encrypted, delivered when they come online): open it,
                     send each --send message once the key is agreed, print every event as a JSON line
                     (key picture, messages, delivered, read); until --duration, --count or Ctrl-C

Options:
  --server URL       signaling endpoint (default ws://127.0.0.1:8080/signal, the demo's)
  --user NAME        our user id (default: node-peer)
  --token TOKEN      the server's shared token (or MTCALL_TOKEN)
  --tone HZ          frequency of the tone we send (default 660; 0 sends nothing)
  --duration SEC     hang up and exit this long after the call is established (default: run until the call ends)
  --record FILE      write the decoded audio we heard to FILE as 16-bit mono WAV
  --relay            relay-only ICE through the server's TURN relays (as the browsers' "relay only")
  --restart-after SEC
                     restart ICE this long after the media path breaks (default 2); again every 8 s
  --give-up SEC      end the call (connection-lost) when the path stays down this long (default 30)
  --interval SEC     print a progress line this often (default 2)
  --json             only the final JSON report on stdout (no progress)
  --send TEXT        chat: a message to send (repeatable)
  --wait             chat: wait for <user> to open the chat instead of opening it
  --echo             chat: answer every message with the same text
  --count N          chat: exit after receiving N messages
  -h, --help         this text

Example: answering a call from the demo (open http://127.0.0.1:8080/?name=alice&call=bot):
  mtcall-peer answer --user bot --duration 10
`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      server: { type: 'string', default: 'ws://127.0.0.1:8080/signal' },
      user: { type: 'string', default: 'node-peer' },
      token: { type: 'string' },
      tone: { type: 'string', default: '660' },
      duration: { type: 'string' },
      record: { type: 'string' },
      interval: { type: 'string', default: '2' },
      relay: { type: 'boolean', default: false },
      'restart-after': { type: 'string' },
      'give-up': { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
      send: { type: 'string', multiple: true, default: [] },
      wait: { type: 'boolean', default: false },
      echo: { type: 'boolean', default: false },
      count: { type: 'string' },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const [mode, target] = positionals;
  if (mode === 'join') return join(target, values);
  if (mode === 'chat') return chat(target, values);
  if (mode !== 'answer' && mode !== 'echo' && mode !== 'call') throw new Error(`unknown mode ${mode ?? '(none)'}\n\n${USAGE}`);
  if (mode === 'call' && !target) throw new Error('call needs a user to call');
  const tone = Number(values.tone);
  const duration = values.duration === undefined ? undefined : Number(values.duration);
  if (!Number.isFinite(tone) || tone < 0 || tone > 20_000) throw new Error('--tone must be 0..20000 Hz');
  if (duration !== undefined && !(duration > 0)) throw new Error('--duration must be > 0 seconds');
  const restartAfter = values['restart-after'] === undefined ? undefined : Number(values['restart-after']);
  const giveUp = values['give-up'] === undefined ? undefined : Number(values['give-up']);
  if (restartAfter !== undefined && !(restartAfter >= 0)) throw new Error('--restart-after must be >= 0 seconds');
  if (giveUp !== undefined && !(giveUp > 0)) throw new Error('--give-up must be > 0 seconds');
  const reconnect = {
    ...(restartAfter !== undefined ? { restartAfterMs: restartAfter * 1000 } : {}),
    ...(giveUp !== undefined ? { giveUpAfterMs: giveUp * 1000 } : {}),
  };
  const send: SendMode = mode === 'echo' ? { type: 'echo' } : tone > 0 ? { type: 'tone', frequency: tone } : { type: 'none' };
  const log = (line: string) => process.stderr.write(`[mtcall-peer] ${line}\n`);

  const peer: RunningPeer = await startPeer({
    server: values.server,
    user: values.user,
    token: values.token ?? process.env['MTCALL_TOKEN'],
    call: mode === 'call' ? target : undefined,
    send,
    record: values.record !== undefined,
    relay: values.relay,
    reconnect,
    log,
  });

  const summary = () => {
    const r = peer.report();
    if (!r) return 'no media yet';
    return `${r.connectionState}: audio ${r.audio.packets} packets, ${r.audio.decoded} decoded (${r.audio.seconds.toFixed(1)} s, rms ${r.audio.rms.toFixed(3)}, ${r.audio.dominantHz.toFixed(1)} Hz), ${r.audio.sent} sent, ${r.dropped} dropped ${JSON.stringify(r.crypto.dropped)}; video ${r.video.packets} packets, ${r.video.framesOpened} ${r.video.codec} frames opened (${r.video.keyFrames} key), dropped ${JSON.stringify(r.video.dropped)}`;
  };

  await new Promise<void>((resolve) => {
    const progress = values.json ? undefined : setInterval(() => log(summary()), Number(values.interval) * 1000);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const finish = () => {
      if (progress) clearInterval(progress);
      if (timer) clearTimeout(timer);
      resolve();
    };
    const watch = setInterval(() => {
      const last = peer.calls.at(-1);
      if (!last) return;
      if (duration !== undefined && last.emoji && timer === undefined) timer = setTimeout(finish, duration * 1000);
      if (last.ended) {
        clearInterval(watch);
        finish();
      }
    }, 100);
    process.once('SIGINT', finish);
    process.once('SIGTERM', finish);
    peer.client.on('close', finish);
  });

  const last = peer.calls.at(-1);
  await peer.close();
  const report = peer.report();
  if (values.record !== undefined && last?.media) {
    writeFileSync(values.record, encodeWav(last.media.pipeline.analyzer.recording(), SAMPLE_RATE));
    log(`wrote ${values.record}`);
  }
  if (!values.json) log(summary());
  process.stdout.write(JSON.stringify(report ?? null) + '\n');
  return report && report.audio.decoded > 0 ? 0 : 1;
}

/** `mtcall-peer join <room>`: a receive-only room member; the final report as one JSON line. */
async function join(room: string | undefined, values: { server: string; user: string; token?: string | undefined; duration?: string | undefined; interval: string; json: boolean }): Promise<number> {
  if (!room) throw new Error('join needs a room id');
  const duration = values.duration === undefined ? undefined : Number(values.duration);
  if (duration !== undefined && !(duration > 0)) throw new Error('--duration must be > 0 seconds');
  const log = (line: string) => process.stderr.write(`[mtcall-peer] ${line}\n`);
  const token = values.token ?? process.env['MTCALL_TOKEN'];
  const bot = await RoomBot.join({ server: values.server, userId: values.user, roomId: room, ...(token !== undefined ? { token } : {}), ...(values.json ? {} : { onLog: log }) });
  log(`joined ${room} as member ${bot.memberId}`);
  const summary = async () => {
    const r = await bot.report();
    const senders = Object.entries(r.senders).map(([m, s]) => `member ${m}: ${s.audioDecoded} audio decoded, ${s.videoFrames} video frames`).join('; ');
    return `${r.connectionState}, epoch ${r.epoch.held}, code ${r.code?.emoji.join(' ') ?? '(not yet)'}: ${senders || 'no media yet'}; dropped ${JSON.stringify(Object.fromEntries(Object.entries(r.crypto.dropped).filter(([, v]) => v > 0)))}`;
  };
  await new Promise<void>((resolve) => {
    const progress = values.json ? undefined : setInterval(() => void summary().then(log), Number(values.interval) * 1000);
    const finish = () => {
      if (progress) clearInterval(progress);
      resolve();
    };
    if (duration !== undefined) setTimeout(finish, duration * 1000);
    process.once('SIGINT', finish);
    process.once('SIGTERM', finish);
  });
  const report = await bot.report();
  if (!values.json) log(await summary());
  await bot.leave();
  process.stdout.write(JSON.stringify(report) + '\n');
  return Object.values(report.senders).some((s) => s.audioDecoded > 0 || s.videoFrames > 0) ? 0 : 1;
}

/** `mtcall-peer chat <user>`: every event as one JSON line on stdout; exit 0 when a message arrived (or none was awaited). */
async function chat(peer: string | undefined, values: { server: string; user: string; token?: string | undefined; duration?: string | undefined; send: string[]; wait: boolean; echo: boolean; count?: string | undefined; json: boolean }): Promise<number> {
  if (!peer) throw new Error('chat needs a user to chat with');
  const duration = values.duration === undefined ? undefined : Number(values.duration);
  if (duration !== undefined && !(duration > 0)) throw new Error('--duration must be > 0 seconds');
  const count = values.count === undefined ? undefined : Number(values.count);
  if (count !== undefined && !(Number.isInteger(count) && count > 0)) throw new Error('--count must be a positive integer');
  const log = (line: string) => values.json || process.stderr.write(`[mtcall-peer] ${line}\n`);
  const token = values.token ?? process.env['MTCALL_TOKEN'];
  let finish: () => void = () => undefined;
  let failed = false;
  const running = await runChat({
    server: values.server, user: values.user, peer, send: values.send, wait: values.wait, echo: values.echo, ...(token !== undefined ? { token } : {}),
    onEvent: (event) => {
      process.stdout.write(JSON.stringify(event) + '\n');
      if (event.event === 'key') log(`key agreed with ${peer}: compare the picture ${event.visualization.slice(0, 16)}… (re-keys: ${event.rekeys})`);
      if (event.event === 'message') log(`${event.from}: ${event.text}`);
      if (event.event === 'closed') {
        failed = event.reason !== 'local';
        finish();
      }
      if (event.event === 'message' && count !== undefined && running.received.length >= count) finish();
    },
  });
  log(`signed in as ${values.user}; ${values.wait ? `waiting for ${peer} to open a chat` : `opening a secret chat with ${peer}`}`);
  await new Promise<void>((resolve) => {
    finish = resolve;
    if (count !== undefined && running.received.length >= count) resolve();
    if (duration !== undefined) setTimeout(resolve, duration * 1000);
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  running.close();
  return failed ? 1 : count === undefined || running.received.length >= count ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`mtcall-peer: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(2);
  },
);
