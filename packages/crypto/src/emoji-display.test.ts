import { describe, expect, it } from 'vitest';
import { createRequire } from 'node:module';
import { EMOJI_DISPLAY_TABLE, EMOJI_TABLE, emojiForDisplay } from './index.js';

const require = createRequire(import.meta.url);
/** Unicode's emoji-test.txt as JSON: the keys are the fully-qualified emoji. */
const unicode = require('unicode-emoji-json/data-by-emoji.json') as Record<string, unknown>;
const strip = (s: string) => s.replace(/[\uFE0E\uFE0F]/g, '');

describe('display forms of the verification emoji', () => {
  it('each is the fully-qualified form of the same emoji in Unicode’s data, in the table’s order', () => {
    expect(EMOJI_DISPLAY_TABLE).toHaveLength(333);
    EMOJI_TABLE.forEach((wire, i) => {
      const display = EMOJI_DISPLAY_TABLE[i]!;
      expect(strip(display), `entry ${i}`).toBe(strip(wire));
      expect(Object.hasOwn(unicode, display), `entry ${i} ${display} is fully qualified`).toBe(true);
      expect(emojiForDisplay(wire)).toBe(display);
    });
  });

  it('adds U+FE0F where the text default needs it: keycaps, ✈, ☎, ♥, ⚡ …', () => {
    expect(emojiForDisplay('8\u20E3')).toBe('8\uFE0F\u20E3');
    expect(emojiForDisplay('✈')).toBe('✈\uFE0F');
    expect(emojiForDisplay('☎')).toBe('☎\uFE0F');
    expect(emojiForDisplay('😉')).toBe('😉'); // already an emoji by default
    expect(emojiForDisplay('not an emoji')).toBe('not an emoji');
    const gained = EMOJI_DISPLAY_TABLE.filter((d, i) => d !== EMOJI_TABLE[i]);
    expect(gained.length).toBeGreaterThan(10);
    expect(gained.every((d) => d.includes('\uFE0F'))).toBe(true);
  });
});
