/**
 * Fuzz tests of the secret-chat parsers and checkers, on the testkit's seeded kit (as packages/crypto/src/fuzz.test.ts):
 * `parseLayer`/`parseMessage` (random bytes and mutations of valid objects), `decryptSecretMessage` (mutations of
 * genuine packets, packets under another key or direction) and `SecretChat.receive` (random, mutated and replayed
 * packets against a live chat). Invariants: nothing throws out of the public API; no mutated packet is accepted; a
 * mutated TL object either parses to a value that re-serializes to as many bytes (the same but for padding) or is refused with a named code;
 * a chat fed garbage stays open and keeps working. ≥ 100 000 cases per target; MTCALL_FUZZ_RUNS multiplies them.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { randomBytes as secureRandom } from '@mtcall/crypto';
import { TIMEOUT, Rng, fuzz, report, check, short, equal, randomLength, randomBytes, mutate, presented } from '@mtcall/testkit';
import { layer as layerArb } from './test-support/arbitraries.js';
import { parseLayer, parseMessage, serializeLayer } from './tl/serialize.js';
import { TL_ERROR_CODES } from './errors.js';
import { MESSAGE_DROP_REASONS, decryptSecretMessage, encryptSecretMessage } from './message.js';
import { CHAT_DROP_REASONS } from './chat.js';
import { pair, settle } from './test-support/harness.js';

const TL_CODES: ReadonlySet<string> = new Set(TL_ERROR_CODES);

describe('TL parsers', () => {
  const samples = fc.sample(layerArb, { numRuns: 200, seed: 0x7e1 }).map(serializeLayer);

  it('never throw; what they accept re-serializes to the same value and length; every refusal is named', { timeout: TIMEOUT }, () => {
    const counts = { accepted: 0, refused: 0 };
    const done = fuzz(0x71, 100_000, 500, (rng) => {
      const base = rng.pick(samples);
      const input = rng.chance(0.2) ? randomBytes(rng, randomLength(rng)) : mutate(rng, base, rng.pick(samples));
      const shown = presented(rng, input);
      const r = parseLayer(shown);
      if (r.ok) {
        counts.accepted++;
        // Re-serialized: the same length, the same value (padding bytes may differ: like TDLib, the reader does not
        // insist that the 0–3 padding bytes of bytes/string are zero).
        const again = serializeLayer(r.value);
        const reparsed = parseLayer(again);
        check(again.length === input.length && reparsed.ok && equal(serializeLayer(reparsed.value), again), () => `accepted bytes that re-serialize differently: ${short(input)}`);
      } else {
        counts.refused++;
        check(TL_CODES.has(r.error.code), () => `unnamed error ${r.error.code}`);
      }
      const m = parseMessage(shown.subarray(Math.min(shown.length, 4 + rng.int(40))));
      check(m.ok || TL_CODES.has(m.error.code), () => 'parseMessage: unnamed error');
    });
    report('parseLayer', counts);
    expect(done).toBeGreaterThanOrEqual(100_000);
  });
});

describe('decryptSecretMessage', () => {
  const setup = new Rng(0x5ec);
  const key = setup.bytes(256);
  const other = setup.bytes(256);
  const genuine: Uint8Array[] = [];
  for (let i = 0; i < 40; i++) genuine.push(encryptSecretMessage(key, 0, randomBytes(setup, setup.int(200) & ~3)));
  const reasons: ReadonlySet<string> = new Set(MESSAGE_DROP_REASONS);

  it('opens exactly the genuine packets; refuses mutations, other keys and the other direction with a named reason', { timeout: TIMEOUT }, () => {
    const counts: Record<string, number> = {};
    const done = fuzz(0x72, 100_000, 500, (rng) => {
      const base = rng.pick(genuine);
      const kind = rng.int(4);
      const input = kind === 0 ? base : kind === 1 ? mutate(rng, base, rng.pick(genuine)) : kind === 2 ? randomBytes(rng, randomLength(rng)) : encryptSecretMessage(other, 0, new Uint8Array(8));
      const x = rng.chance(0.9) ? 0 : 8;
      const r = decryptSecretMessage(key, x, presented(rng, input));
      const tag = r.ok ? 'opened' : r.reason;
      counts[tag] = (counts[tag] ?? 0) + 1;
      if (kind === 0 && x === 0) check(r.ok, () => `genuine packet refused: ${r.ok ? '' : r.reason}`);
      else if (r.ok) check(genuine.some((g) => equal(g, input)) && x === 0, () => `accepted a forgery: ${short(input)}`);
      else check(reasons.has(r.reason), () => `unnamed reason ${r.reason}`);
    });
    report('decryptSecretMessage', counts);
    expect(done).toBeGreaterThanOrEqual(100_000);
  });
});

describe('SecretChat.receive', () => {
  it('garbage, mutations and replays are dropped by name; the chat stays open and still delivers', { timeout: TIMEOUT }, () => {
    const { alice, bob } = pair({ alice: { rekeyAfterMessages: 1e9 }, bob: { rekeyAfterMessages: 1e9 } });
    settle(alice, bob);
    const pool: Uint8Array[] = [];
    for (let i = 0; i < 30; i++) alice.chat.sendMessage({ message: `m${i}` });
    for (const p of alice.take()) pool.push(p.packet);
    for (const p of pool) bob.chat.receive(p);
    bob.chat.drain();
    const reasons: ReadonlySet<string> = new Set(CHAT_DROP_REASONS);
    const counts: Record<string, number> = {};
    const done = fuzz(0x73, 100_000, 1000, (rng) => {
      const base = rng.pick(pool);
      const input = rng.chance(0.3) ? base : rng.chance(0.5) ? mutate(rng, base, rng.pick(pool)) : randomBytes(rng, randomLength(rng));
      bob.chat.receive(presented(rng, input));
      for (const out of bob.chat.drain()) {
        const tag = out.type === 'dropped' ? out.reason : out.type;
        counts[tag] = (counts[tag] ?? 0) + 1;
        check(out.type === 'dropped' && reasons.has(out.reason), () => `unexpected output ${out.type} for ${short(input)}`);
      }
    });
    report('SecretChat.receive', counts);
    expect(done).toBeGreaterThanOrEqual(100_000);
    expect(bob.chat.state).toBe('established');
    alice.chat.sendMessage({ message: 'still here' });
    settle(alice, bob);
    expect(bob.texts().at(-1)).toBe('still here');
    expect(secureRandom(1).length).toBe(1);
  });
});
