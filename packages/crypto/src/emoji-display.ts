/**
 * How the verification emoji are shown. Fingerprints use TDLib's forms (`EMOJI_TABLE`, no U+FE0F); a browser
 * draws some of those as black text glyphs (✈ ☎ ♥, the keycaps 0⃣–9⃣), so people see the fully-qualified forms
 * of Unicode's emoji data instead. Both compare equal index by index.
 */

import { EMOJI_DISPLAY_TABLE } from './emoji-display-table.js';
import { EMOJI_TABLE } from './emoji-table.js';

export { EMOJI_DISPLAY_TABLE };

const DISPLAY = new Map(EMOJI_TABLE.map((e, i) => [e, EMOJI_DISPLAY_TABLE[i]!]));

/**
 * The form to show for a verification emoji (one of `EMOJI_TABLE`); anything else comes back unchanged.
 * @example emojiForDisplay('✈') // '✈️' (U+2708 U+FE0F)
 */
export function emojiForDisplay(emoji: string): string {
  return DISPLAY.get(emoji) ?? emoji;
}
