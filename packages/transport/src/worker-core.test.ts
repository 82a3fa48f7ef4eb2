/**
 * The encryption worker's policy, driven directly (sans-IO): key and mid gating, teardown at every await point,
 * the seq-exhausted abort, key-frame requests. A manual clock; no timers, no sleeps.
 */

import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { SEQ_LIMIT, bytesToHex, createWebCryptoBackend, type AsyncCryptoBackend } from '@mtcall/crypto';
import { FrameCryptor, type MediaStreamRef } from './frame-cryptor.js';
import { KEY_FRAME_INTERVAL_MS, KeyFrameRequestPolicy, WorkerCore, type WorkerHooks } from './worker-core.js';
import type { FromWorker, TransformOptions } from './worker-protocol.js';

const KEY = new Uint8Array(randomBytes(256));
const CAMERA: MediaStreamRef = { kind: 'video', mid: '1' };
const send: TransformOptions = { side: 'send', kind: 'video', streamId: 'send-video-1', mid: '1' };
const receive: TransformOptions = { side: 'receive', kind: 'video', streamId: 'receive-video-2', mid: '1' };
const frame = () => new Uint8Array(randomBytes(3000)); // large: the asynchronous (Web Crypto) path

function setup(hooks?: WorkerHooks) {
  const posted: FromWorker[] = [];
  let clock = 0;
  const core = new WorkerCore({ post: (m) => posted.push(m), now: () => clock, ...(hooks ? { hooks } : {}) });
  return { core, posted, tick: (ms: number) => (clock += ms), key: () => core.handle({ type: 'key', key: KEY.slice(), outgoing: true }) };
}

/** Resolves when `promise` has settled, or says it is still pending after the microtask queue drained. */
async function settledNow<T>(promise: Promise<T>): Promise<{ settled: boolean; value?: T }> {
  let state: { settled: boolean; value?: T } = { settled: false };
  void promise.then((value) => (state = { settled: true, value }));
  await new Promise<void>((resolve) => setImmediate(resolve));
  return state;
}

describe('gating: nothing passes before the key and the mid, nothing after the end', () => {
  it('a frame waits for the key, then is sealed (never passed in the clear)', async () => {
    const { core, key } = setup();
    const plain = frame();
    const pending = core.transform(send, () => undefined).process(plain, 'VP9');
    expect((await settledNow(pending)).settled).toBe(false);
    key();
    const wire = (await pending)!;
    expect(wire).not.toBeNull();
    const opened = new FrameCryptor(KEY, 'callee').decrypt(wire, CAMERA);
    expect(opened.ok && bytesToHex(opened.frame)).toBe(bytesToHex(plain));
  });

  it("a frame waits for its stream's mid (sent later), and is bound to it", async () => {
    const { core, key } = setup();
    key();
    const plain = frame();
    const pending = core.transform({ ...send, mid: undefined }, () => undefined).process(plain, 'VP9');
    expect((await settledNow(pending)).settled).toBe(false);
    core.handle({ type: 'mid', streamId: send.streamId, mid: '7' });
    const wire = (await pending)!;
    const callee = new FrameCryptor(KEY, 'callee');
    expect(callee.decrypt(wire, CAMERA)).toEqual({ ok: false, reason: 'wrong-stream' });
    expect(callee.decrypt(wire, { kind: 'video', mid: '7' }).ok).toBe(true);
  });

  it('the end wakes waiting frames and drops them; the key is wiped when it arrives', async () => {
    const { core } = setup();
    const pending = core.transform(send, () => undefined).process(frame(), 'VP9');
    core.handle({ type: 'end' });
    expect(await pending).toBeNull();
    const late = KEY.slice();
    core.handle({ type: 'key', key: late, outgoing: true });
    expect(late.every((b) => b === 0)).toBe(true);
    expect(await core.transform(send, () => undefined).process(frame(), 'VP9')).toBeNull();
  });
});

describe('teardown race: an end at any await point of a seal or an open yields no frame at all', () => {
  const webcrypto = createWebCryptoBackend()!;
  /** A backend that delivers the worker's `end` while its `point`-th operation is pending. */
  function endingAt(point: number, end: () => void): AsyncCryptoBackend {
    let calls = 0;
    const at = <T>(result: Promise<T>) => {
      if (calls++ === point) end();
      return result;
    };
    return { name: 'ending', sha256: (d) => at(webcrypto.sha256(d)), aes256Ctr: (k, iv, input, skip) => at(webcrypto.aes256Ctr(k, iv, input, skip)) };
  }

  for (const side of ['send', 'receive'] as const) {
    for (const point of [0, 1]) {
      it(`${side}: end during await ${point}`, async () => {
        let core: WorkerCore | undefined;
        const wire = new FrameCryptor(KEY, 'caller').encrypt(frame(), CAMERA, 'VP9');
        const made = setup({ createCryptor: (key, outgoing) => new FrameCryptor(key, outgoing ? 'caller' : 'callee', { asyncBackend: endingAt(point, () => core!.handle({ type: 'end' })) }) });
        core = made.core;
        if (side === 'receive') core.handle({ type: 'key', key: KEY.slice(), outgoing: false });
        else made.key();
        const out = await core.transform(side === 'send' ? send : receive, () => undefined).process(side === 'send' ? frame() : wire, 'VP9');
        expect(out).toBeNull();
        expect(made.posted.filter((m) => m.type === 'error')).toEqual([]); // a seal cut short by the end is no error
      });
    }
  }

  it('a sealed frame that comes back after the end is not passed on (the worker re-checks after the await)', async () => {
    let core: WorkerCore | undefined;
    class LateCryptor extends FrameCryptor {
      override async encryptAsync(...args: Parameters<FrameCryptor['encryptAsync']>): Promise<Uint8Array> {
        const wire = this.encrypt(...args); // sealed before the end, under the real key
        core!.handle({ type: 'end' });
        return wire;
      }
    }
    const made = setup({ createCryptor: (key, outgoing) => new LateCryptor(key, outgoing ? 'caller' : 'callee') });
    core = made.core;
    made.key();
    expect(await core.transform(send, () => undefined).process(frame(), 'VP9')).toBeNull();
  });
});

describe('seq exhaustion aborts the call', () => {
  it('at 2^30 the worker posts one fatal error and one abort{seq-exhausted}, and drops every later frame', async () => {
    const { core, posted } = setup({ createCryptor: (key, outgoing) => new FrameCryptor(key, outgoing ? 'caller' : 'callee', { firstSeq: SEQ_LIMIT - 3 }) });
    core.handle({ type: 'key', key: KEY.slice(), outgoing: true });
    const t = core.transform(send, () => undefined);
    const outs = [];
    for (let i = 0; i < 6; i++) outs.push(await t.process(frame(), 'VP9'));
    expect(outs.map((o) => o !== null)).toEqual([true, true, true, false, false, false]);
    expect(posted.filter((m) => m.type === 'abort')).toEqual([{ type: 'abort', reason: 'seq-exhausted' }]);
    expect(posted.filter((m) => m.type === 'error')).toEqual([{ type: 'error', message: expect.stringMatching(/2\^30/), fatal: true }]);
  });
});

describe('key-frame requests', () => {
  it('after 3 undecryptable video frames in a row, at most once per second per stream; an opened frame resets the count', () => {
    const policy = new KeyFrameRequestPolicy();
    expect([policy.dropped(0), policy.dropped(1), policy.dropped(2)]).toEqual([false, false, true]);
    expect(policy.dropped(3)).toBe(false); // within the interval
    expect(policy.dropped(2 + KEY_FRAME_INTERVAL_MS)).toBe(true);
    policy.opened();
    expect([policy.dropped(5000), policy.dropped(5001), policy.dropped(5002)]).toEqual([false, false, true]);
  });

  it('the worker asks the stream for a key frame and counts it; audio drops never ask', async () => {
    const { core, tick } = setup();
    core.handle({ type: 'key', key: KEY.slice(), outgoing: false });
    let requests = 0;
    const video = core.transform(receive, () => requests++);
    const audio = core.transform({ side: 'receive', kind: 'audio', streamId: 'receive-audio-3', mid: '0' }, () => requests++);
    for (let i = 0; i < 3; i++) expect(await video.process(new Uint8Array(randomBytes(100)), undefined)).toBeNull();
    for (let i = 0; i < 5; i++) await audio.process(new Uint8Array(randomBytes(100)), undefined);
    expect(requests).toBe(1);
    tick(KEY_FRAME_INTERVAL_MS);
    await video.process(new Uint8Array(randomBytes(100)), undefined);
    expect(requests).toBe(2);
    expect(core.stats().keyFrameRequests).toBe(2);
    expect(core.stats().lastError).toMatch(/^dropped video frame: /);
  });
});
