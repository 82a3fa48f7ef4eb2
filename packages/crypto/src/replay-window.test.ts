import { expect, it } from 'vitest';
import fc from 'fast-check';
import { ReplayWindow } from './replay-window.js';

/** The rule as the spec words it, with a plain Set: the model the window must agree with. */
class ReferenceWindow {
  max = 0;
  seen = new Set<number>();
  accept(seq: number): boolean {
    if (seq <= this.max - 64 || this.seen.has(seq)) return false;
    this.seen.add(seq);
    this.max = Math.max(this.max, seq);
    for (const s of this.seen) if (s <= this.max - 64) this.seen.delete(s);
    return true;
  }
}

it('accepts in-order seqs once', () => {
  const w = new ReplayWindow();
  for (let s = 1; s <= 200; s++) {
    expect(w.check(s)).toBe(true);
    expect(w.accept(s)).toBe(true);
    expect(w.accept(s)).toBe(false);
  }
  expect(w.maxReceivedSeq).toBe(200);
});

it('keeps exactly 64 entries: max-63 is accepted once, max-64 is too old', () => {
  const w = new ReplayWindow();
  expect(w.accept(100)).toBe(true);
  expect(w.verdict(36)).toBe('too-old');
  expect(w.verdict(37)).toBe('ok');
  expect(w.accept(37)).toBe(true);
  expect(w.verdict(37)).toBe('replay');
  expect(w.verdict(100)).toBe('replay');
  expect(w.verdict(101)).toBe('ok');
  // A jump forward pushes everything older out.
  expect(w.accept(1000)).toBe(true);
  expect(w.verdict(100)).toBe('too-old');
  expect(w.verdict(937)).toBe('ok');
  expect(w.verdict(936)).toBe('too-old');
});

it('accepts out-of-order seqs inside the window exactly once', () => {
  const w = new ReplayWindow();
  const order = [5, 3, 4, 1, 2, 70, 7, 6, 69, 8];
  for (const s of order) expect(w.accept(s)).toBe(s !== 6); // 6 arrives after 70: 6 <= 70 - 64
  for (const s of order) expect(w.accept(s)).toBe(false);
  expect(w.verdict(6)).toBe('too-old'); // 70 - 64 = 6
});

it('check never records; rejects nonsense seqs', () => {
  const w = new ReplayWindow();
  expect(w.check(10)).toBe(true);
  expect(w.check(10)).toBe(true);
  expect(w.maxReceivedSeq).toBe(0);
  expect(w.check(-1)).toBe(false);
  expect(w.check(0)).toBe(false); // seqs start at 1
  expect(w.check(1.5)).toBe(false);
  expect(w.check(Number.NaN)).toBe(false);
});

it('agrees with the reference model on random seq orders (reordering, duplicates, jumps)', () => {
  fc.assert(
    fc.property(
      fc.array(fc.oneof(fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1, max: 5000 })), { maxLength: 600 }),
      (seqs) => {
        const w = new ReplayWindow();
        const ref = new ReferenceWindow();
        for (const s of seqs) {
          expect(w.check(s)).toBe(!(s <= ref.max - 64 || ref.seen.has(s)));
          expect(w.accept(s)).toBe(ref.accept(s));
          expect(w.maxReceivedSeq).toBe(ref.max);
        }
      },
    ),
    { numRuns: 500, seed: 11 },
  );
});

it('agrees with the reference model on a shuffled stream with a bounded reorder distance', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 100 }), fc.integer(), (distance, seed) => {
      let rnd = seed >>> 0;
      const next = () => (rnd = (Math.imul(rnd, 1664525) + 1013904223) >>> 0) / 2 ** 32;
      const seqs = Array.from({ length: 1000 }, (_, i) => ({ seq: i + 1, at: i + next() * distance }));
      seqs.sort((a, b) => a.at - b.at);
      const w = new ReplayWindow();
      const ref = new ReferenceWindow();
      for (const { seq } of seqs) expect(w.accept(seq)).toBe(ref.accept(seq));
    }),
    { numRuns: 50, seed: 5 },
  );
});
