/** Showing the four verification emoji to a person. */

export { emojiForDisplay, EMOJI_DISPLAY_TABLE } from '@mtcall/crypto';

/**
 * A CSS `font-family` that reaches a colour emoji font first on every common platform (Linux: Noto Color Emoji;
 * macOS/iOS; Windows; Firefox's bundled Twemoji). Without it some browsers pick a monochrome font that has a few
 * of the 333 glyphs (text-style ✌ or 😉) and draw those in black. Use it for the element showing the emoji.
 */
export const EMOJI_FONT_FAMILY = "'Noto Color Emoji', 'Apple Color Emoji', 'Segoe UI Emoji', 'Twemoji Mozilla', 'Android Emoji', sans-serif";
