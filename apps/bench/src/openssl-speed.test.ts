import { describe, expect, it } from 'vitest';
import { nativePacketsPerSec, parseSpeedOutput } from './openssl-speed.js';

// Captured from OpenSSL 3.0.19: `openssl speed -mr -evp sha256 -bytes 192 -seconds 1`, stdout then stderr.
const SHA_MR = `+H:192
+F:25:sha256:701108557.58
+DT:sha256:1:192
+R:3615091:sha256:0.990000
`;
// Same for `-evp aes-256-ctr -bytes 1200`.
const AES_MR = `+H:1200
+F:25:AES-256-CTR:6105006000.00
+DT:AES-256-CTR:1:1200
+R:5087505:AES-256-CTR:1.000000
`;
// The human-readable form (no -mr), OpenSSL 3.0.19, header lines abridged.
const SHA_HUMAN = `Doing sha256 for 1s on 52 size blocks: 6212528 sha256's in 0.98s
version: 3.0.19
built on: Fri Apr  3 12:29:32 2026 UTC
The 'numbers' are in 1000s of bytes per second processed.
type             52 bytes
sha256          329644.53k
`;

describe('parseSpeedOutput', () => {
  it('reads the +R count and time of -mr output', () => {
    const sha = parseSpeedOutput(SHA_MR, 192);
    expect(sha.algorithm).toBe('sha256');
    expect(sha.secondsPerOp).toBeCloseTo(0.99 / 3615091, 15);
    const aes = parseSpeedOutput(AES_MR, 1200);
    expect(aes.algorithm).toBe('AES-256-CTR');
    expect(aes.secondsPerOp).toBeCloseTo(1 / 5087505, 15);
  });

  it('falls back to the +F bytes per second when +R is missing (stdout only)', () => {
    const stdoutOnly = SHA_MR.split('\n').slice(0, 2).join('\n');
    const sha = parseSpeedOutput(stdoutOnly, 192);
    expect(sha.secondsPerOp).toBeCloseTo(192 / 701108557.58, 15);
    // +F is +R's count · bytes / time, so both agree.
    expect(sha.secondsPerOp / parseSpeedOutput(SHA_MR, 192).secondsPerOp).toBeCloseTo(1, 6);
  });

  it('falls back to the human-readable "Doing" line', () => {
    const sha = parseSpeedOutput(SHA_HUMAN, 52);
    expect(sha.bytes).toBe(52);
    expect(sha.secondsPerOp).toBeCloseTo(0.98 / 6212528, 15);
  });

  it('throws on output it cannot read', () => {
    expect(() => parseSpeedOutput('speed: Unknown algorithm foo\n', 52)).toThrow(/cannot parse/);
    expect(() => parseSpeedOutput('+R:0:sha256:0.000000\n', 52)).toThrow(/cannot parse/);
  });
});

describe('nativePacketsPerSec', () => {
  it('is 1 / (t_sha(32+B) + 2 t_sha(52) + t_aes(B))', () => {
    expect(nativePacketsPerSec(200e-9, 100e-9, 100e-9)).toBeCloseTo(1 / 500e-9, 3);
    expect(nativePacketsPerSec(1e-6, 0, 0)).toBeCloseTo(1e6, 6);
  });
});
