import { describe, expect, it } from 'vitest';
import { randomBytes } from '@mtcall/crypto';
import { AudioAnalyzer, ToneSource, dominantFrequency, encodeWav, rms } from './audio.js';
import { AudioPipeline } from './media.js';

const toFloat = (pcm: Int16Array) => Float32Array.from(pcm, (s) => s / 32768);

describe('audio analysis', () => {
  it('finds the frequency and level of a sine', () => {
    const tone = new ToneSource(1000);
    const samples = new Float32Array(48_000);
    for (let i = 0; i < 50; i++) samples.set(toFloat(tone.next()), i * 960);
    expect(dominantFrequency(samples, 48_000)).toBeCloseTo(1000, -1); // within ±5 Hz
    expect(rms(samples)).toBeCloseTo(0.3 / Math.SQRT2, 2);
    expect(dominantFrequency(new Float32Array(48_000), 48_000)).toBe(0);
  });

  it('the analyzer finds a short beep among silence (like Chromium\'s fake microphone) over the whole recording', () => {
    const analyzer = new AudioAnalyzer(48_000, { record: true });
    const beep = new ToneSource(400);
    const quiet = new ToneSource(2500, 48_000, 960, 0.002);
    for (let i = 0; i < 200; i++) analyzer.push(toFloat(i % 25 === 0 ? beep.next() : quiet.next())); // 20 ms of 400 Hz every 500 ms
    const report = analyzer.report();
    expect(report.seconds).toBeCloseTo(4, 5);
    expect(Math.abs(report.dominantHz - 400)).toBeLessThan(6);
    expect(analyzer.recording()).toHaveLength(4 * 48_000);
  });

  it('writes a WAV header that matches the samples', () => {
    const wav = encodeWav(new Float32Array([0, 0.5, -1]), 48_000);
    const view = new DataView(wav.buffer);
    expect(new TextDecoder().decode(wav.subarray(0, 4))).toBe('RIFF');
    expect(view.getUint32(24, true)).toBe(48_000);
    expect(view.getUint32(40, true)).toBe(6);
    expect(view.getInt16(46, true)).toBe(16384);
    expect(view.getInt16(48, true)).toBe(-32767);
  });
});

describe('AudioPipeline: Opus ↔ FrameCryptor ↔ Opus', () => {
  it('a tone sealed by the caller is opened, decoded and recognised by the callee, and echoed back', async () => {
    const key = randomBytes(256);
    const caller = new AudioPipeline({ key, outgoing: true });
    const callee = new AudioPipeline({ key, outgoing: false });
    await Promise.all([caller.ready(), callee.ready()]);
    for (let i = 0; i < 150; i++) {
      const wire = caller.sealTone(660, '0');
      const opened = callee.receive(wire, '0');
      expect(opened.ok).toBe(true);
      if (opened.ok) {
        expect(wire).not.toEqual(opened.frame); // sealed on the wire
        caller.receive(callee.seal(opened.frame, '0'), '0'); // echo, re-sealed in the callee's direction
      }
    }
    for (const side of [callee.report(), caller.report()]) {
      expect(side.dropped).toBe(0);
      expect(side.audio.decoded).toBe(150);
      expect(side.audio.seconds).toBeCloseTo(3, 5);
      expect(Math.abs(side.audio.dominantHz - 660)).toBeLessThan(6);
      expect(side.audio.rms).toBeGreaterThan(0.1);
    }
    expect(callee.report().crypto.sealed.frames).toBe(150);
    caller.destroy();
    callee.destroy();
  });

  it('with a wrong key nothing opens: every frame is an auth drop, nothing decoded', async () => {
    const key = randomBytes(256);
    const caller = new AudioPipeline({ key, outgoing: true });
    const callee = new AudioPipeline({ key, outgoing: false, wrongKey: true });
    await callee.ready();
    for (let i = 0; i < 20; i++) expect(callee.receive(caller.sealTone(660, '0'), '0')).toEqual({ ok: false, reason: 'auth' });
    const report = callee.report();
    expect(report.crypto.dropped.auth).toBe(20);
    expect(report.audio.decoded).toBe(0);
    expect(report.audio.packets).toBe(20);
  });

  it('a replayed frame is dropped as a replay; the direction must match (the caller cannot open its own frames)', async () => {
    const key = randomBytes(256);
    const caller = new AudioPipeline({ key, outgoing: true });
    const callee = new AudioPipeline({ key, outgoing: false });
    await Promise.all([caller.ready(), callee.ready()]);
    const wire = caller.sealTone(440, '0');
    expect(callee.receive(wire, '1')).toEqual({ ok: false, reason: 'wrong-stream' }); // bound to its stream's mid
    expect(callee.receive(wire, '0').ok).toBe(true);
    expect(callee.receive(wire, '0')).toEqual({ ok: false, reason: 'replay' });
    expect(caller.receive(caller.sealTone(440, '0'), '0').ok).toBe(false);
  });
});
