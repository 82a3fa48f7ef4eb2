/**
 * Sans-IO audio helpers of the peer: what it heard (RMS level, dominant frequency, seconds), a sine tone source
 * in 20 ms frames, and a 16-bit PCM WAV writer. No WebRTC, no crypto, no Opus here.
 */

/** In-place radix-2 FFT (re/im of length 2^k). */
function fft(re: Float64Array, im: Float64Array): void {
  const n = re.length;
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      [re[i], re[j]] = [re[j]!, re[i]!];
      [im[i], im[j]] = [im[j]!, im[i]!];
    }
  }
  for (let len = 2; len <= n; len <<= 1) {
    const angle = (-2 * Math.PI) / len;
    const wr = Math.cos(angle);
    const wi = Math.sin(angle);
    for (let start = 0; start < n; start += len) {
      let cr = 1;
      let ci = 0;
      for (let k = 0; k < len / 2; k++) {
        const a = start + k;
        const b = a + len / 2;
        const tr = re[b]! * cr - im[b]! * ci;
        const ti = re[b]! * ci + im[b]! * cr;
        re[b] = re[a]! - tr;
        im[b] = im[a]! - ti;
        re[a] = re[a]! + tr;
        im[a] = im[a]! + ti;
        const next = cr * wr - ci * wi;
        ci = cr * wi + ci * wr;
        cr = next;
      }
    }
  }
}

/** Hann-windowed power spectra of blocks of `size` samples, summed. */
export class SpectrumAccumulator {
  readonly #power: Float64Array;
  readonly #re: Float64Array;
  readonly #im: Float64Array;
  readonly #window: Float64Array;
  blocks = 0;

  constructor(readonly size: number) {
    this.#power = new Float64Array(size / 2);
    this.#re = new Float64Array(size);
    this.#im = new Float64Array(size);
    this.#window = Float64Array.from({ length: size }, (_, i) => 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (size - 1)));
  }

  add(block: Float32Array): void {
    for (let i = 0; i < this.size; i++) {
      this.#re[i] = block[i]! * this.#window[i]!;
      this.#im[i] = 0;
    }
    fft(this.#re, this.#im);
    for (let i = 0; i < this.size / 2; i++) this.#power[i] = this.#power[i]! + this.#re[i]! ** 2 + this.#im[i]! ** 2;
    this.blocks++;
  }

  /** The strongest frequency between minHz (default 100 Hz: above the low lobes of a short beep's on/off envelope) and maxHz (parabolic interpolation between bins); 0 if silent. */
  peak(sampleRate: number, minHz = 100, maxHz = 8000): number {
    const power = this.#power;
    const lo = Math.max(1, Math.floor((minHz * this.size) / sampleRate));
    const hi = Math.min(this.size / 2 - 2, Math.ceil((maxHz * this.size) / sampleRate));
    let peak = lo;
    for (let i = lo; i <= hi; i++) if (power[i]! > power[peak]!) peak = i;
    if (power[peak]! <= 1e-12) return 0;
    const [a, b, c] = [Math.sqrt(power[peak - 1]!), Math.sqrt(power[peak]!), Math.sqrt(power[peak + 1]!)];
    const denominator = a - 2 * b + c;
    const shift = denominator === 0 ? 0 : (0.5 * (a - c)) / denominator;
    return ((peak + shift) * sampleRate) / this.size;
  }
}

/** The dominant frequency (Hz) of `samples` over consecutive blocks of `size` samples; 0 when too short or silent. */
export function dominantFrequency(samples: Float32Array, sampleRate: number, options: { size?: number; minHz?: number; maxHz?: number } = {}): number {
  const spectrum = new SpectrumAccumulator(options.size ?? 8192);
  for (let offset = 0; offset + spectrum.size <= samples.length; offset += spectrum.size) spectrum.add(samples.subarray(offset, offset + spectrum.size));
  return spectrum.blocks === 0 ? 0 : spectrum.peak(sampleRate, options.minHz, options.maxHz);
}

/** Root mean square of samples (full scale = 1). */
export function rms(samples: Float32Array): number {
  let sum = 0;
  for (const s of samples) sum += s * s;
  return samples.length === 0 ? 0 : Math.sqrt(sum / samples.length);
}

/** What the peer heard so far. */
export interface AudioReport {
  seconds: number;
  /** RMS over everything heard (full scale = 1). */
  rms: number;
  /** Dominant frequency over everything heard (Hz; 0 before 8192 samples or if silent). */
  dominantHz: number;
}

/**
 * Accumulates decoded mono audio: RMS and seconds over everything, and a power spectrum summed over every
 * complete block of `blockSize` samples (so short beeps, e.g. Chromium's fake microphone, count wherever they
 * fall); optionally all samples (for WAV).
 */
export class AudioAnalyzer {
  readonly sampleRate: number;
  readonly #block: Float32Array;
  #blockLength = 0;
  readonly #spectrum: SpectrumAccumulator;
  #samples = 0;
  #sumSquares = 0;
  readonly #recorded: Float32Array[] | undefined;

  constructor(sampleRate = 48_000, options: { blockSize?: number; record?: boolean } = {}) {
    this.sampleRate = sampleRate;
    this.#block = new Float32Array(options.blockSize ?? 8192);
    this.#spectrum = new SpectrumAccumulator(this.#block.length);
    this.#recorded = options.record ? [] : undefined;
  }

  push(samples: Float32Array): void {
    this.#samples += samples.length;
    for (const s of samples) this.#sumSquares += s * s;
    this.#recorded?.push(samples.slice());
    let offset = 0;
    while (offset < samples.length) {
      const take = Math.min(samples.length - offset, this.#block.length - this.#blockLength);
      this.#block.set(samples.subarray(offset, offset + take), this.#blockLength);
      this.#blockLength += take;
      offset += take;
      if (this.#blockLength === this.#block.length) {
        this.#spectrum.add(this.#block);
        this.#blockLength = 0;
      }
    }
  }

  report(): AudioReport {
    return {
      seconds: this.#samples / this.sampleRate,
      rms: this.#samples === 0 ? 0 : Math.sqrt(this.#sumSquares / this.#samples),
      dominantHz: this.#spectrum.peak(this.sampleRate),
    };
  }

  /** Everything heard, when created with `record: true`. */
  recording(): Float32Array {
    const all = new Float32Array(this.#samples);
    let offset = 0;
    for (const chunk of this.#recorded ?? []) {
      all.set(chunk, offset);
      offset += chunk.length;
    }
    return all.subarray(0, offset);
  }
}

/** A sine tone in frames of `frameSamples` 16-bit mono samples (what an Opus encoder takes). */
export class ToneSource {
  #phase = 0;
  constructor(
    readonly frequency: number,
    readonly sampleRate = 48_000,
    readonly frameSamples = 960,
    readonly amplitude = 0.3,
  ) {}

  next(): Int16Array {
    const frame = new Int16Array(this.frameSamples);
    const step = (2 * Math.PI * this.frequency) / this.sampleRate;
    for (let i = 0; i < frame.length; i++) {
      frame[i] = Math.round(Math.sin(this.#phase) * this.amplitude * 32767);
      this.#phase += step;
    }
    this.#phase %= 2 * Math.PI;
    return frame;
  }
}

/** A 16-bit PCM mono WAV file of float samples. */
export function encodeWav(samples: Float32Array, sampleRate: number): Uint8Array {
  const bytes = new Uint8Array(44 + samples.length * 2);
  const view = new DataView(bytes.buffer);
  const ascii = (offset: number, text: string) => {
    for (let i = 0; i < text.length; i++) bytes[offset + i] = text.charCodeAt(i);
  };
  ascii(0, 'RIFF');
  view.setUint32(4, 36 + samples.length * 2, true);
  ascii(8, 'WAVE');
  ascii(12, 'fmt ');
  view.setUint32(16, 16, true);
  view.setUint16(20, 1, true); // PCM
  view.setUint16(22, 1, true); // mono
  view.setUint32(24, sampleRate, true);
  view.setUint32(28, sampleRate * 2, true);
  view.setUint16(32, 2, true);
  view.setUint16(34, 16, true);
  ascii(36, 'data');
  view.setUint32(40, samples.length * 2, true);
  for (let i = 0; i < samples.length; i++) view.setInt16(44 + i * 2, Math.round(Math.max(-1, Math.min(1, samples[i]!)) * 32767), true);
  return bytes;
}
