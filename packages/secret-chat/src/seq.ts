/**
 * Sequence numbers of secret chats ("Sequence numbers in Secret Chats"): raw counters (out = messages this side
 * sent, in = messages it received and processed in order) start at 0 and go up by one per message, service messages
 * included. On the wire each becomes 2·raw + x, so a message can never be reflected back to its sender:
 *
 *   |                                  | in_seq_no | out_seq_no |
 *   | secret chat initiated by sender  |     0     |     1      |
 *   | secret chat initiated by recipient|    1     |     0      |
 *
 * (TDLib agrees: `in = my_in·2 + x`, `out = my_out·2 + 1 − x` with x = 0 for the creator.) A received message with
 * the other parity must abort the chat.
 */

/** Which side of the chat this is: the one that sent requestEncryption, or the one that accepted it. */
export type ChatRole = 'originator' | 'recipient';

/** The two roles, defined once. */
export const CHAT_ROLES = ['originator', 'recipient'] as const satisfies readonly ChatRole[];

/** The out_seq_no a message sent by `sender` carries for its raw out counter. */
export function wireOutSeqNo(sender: ChatRole, raw: number): number {
  return 2 * raw + (sender === 'originator' ? 1 : 0);
}

/** The in_seq_no a message sent by `sender` carries for its raw in counter. */
export function wireInSeqNo(sender: ChatRole, raw: number): number {
  return 2 * raw + (sender === 'originator' ? 0 : 1);
}

/** The raw counters of a message received by `receiver`, or `null` when a value is negative or has the wrong parity. */
export function rawReceivedSeq(receiver: ChatRole, inSeqNo: number, outSeqNo: number): { rawIn: number; rawOut: number } | null {
  const sender: ChatRole = receiver === 'originator' ? 'recipient' : 'originator';
  if (!Number.isInteger(inSeqNo) || !Number.isInteger(outSeqNo) || inSeqNo < 0 || outSeqNo < 0) return null;
  const rawIn = Math.floor(inSeqNo / 2);
  const rawOut = Math.floor(outSeqNo / 2);
  if (wireInSeqNo(sender, rawIn) !== inSeqNo || wireOutSeqNo(sender, rawOut) !== outSeqNo) return null;
  return { rawIn, rawOut };
}

/** The MTProto 2.0 x of messages sent by `sender`: 0 from the originator, 8 from the recipient. */
export function senderOffset(sender: ChatRole): 0 | 8 {
  return sender === 'originator' ? 0 : 8;
}

/** The other role. */
export function peerRole(role: ChatRole): ChatRole {
  return role === 'originator' ? 'recipient' : 'originator';
}
