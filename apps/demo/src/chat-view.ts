/**
 * The demo's secret-chat panel (issue 16), on `MtcallClient.chat`: one tab per chat, the messages with their
 * delivery state (… sending, ✓ stored by the server for the other device, ✓✓ read), files (sent encrypted with a
 * one-time key; downloaded and decrypted on click), and the key visualization — a 12×12 picture of the seed's 36
 * bytes — to compare with the other person's. Usable in and outside a call. Its DOM lives outside the app's
 * re-rendered tree (what is typed survives the app's renders); `app.ts` puts a "Chat" button beside each person.
 */

import type { ChatMessage, ChatSession, MtcallClient } from '@mtcall/client';

/** Four colours for the visualization's 2-bit pixels (Telegram draws the key the same way). */
const PALETTE = ['#ffffff', '#d5e6f3', '#2d5775', '#2f99c9'];

function el<K extends keyof HTMLElementTagNameMap>(tag: K, className = '', text = ''): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text) node.textContent = text;
  return node;
}

/** The 36 visualization bytes as 144 two-bit pixels in a 12×12 grid. */
function keyPicture(bytes: Uint8Array): HTMLCanvasElement {
  const canvas = el('canvas', 'chat-key');
  const cell = 8;
  canvas.width = canvas.height = 12 * cell;
  const g = canvas.getContext('2d');
  for (let i = 0; i < 144 && g; i++) {
    const value = (bytes[i >> 2]! >> ((i & 3) * 2)) & 3;
    g.fillStyle = PALETTE[value]!;
    g.fillRect((i % 12) * cell, Math.floor(i / 12) * cell, cell, cell);
  }
  return canvas;
}

const hex = (bytes: Uint8Array) => [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
const STATUS: Record<ChatMessage['status'], string> = { sending: '…', delivered: '✓', read: '✓✓', failed: '', received: '' };

/** A chat's entry in the demo's snapshot (tests read it). */
export interface ChatSnapshot {
  peer: string;
  state: string;
  key?: string;
  fingerprint?: string;
  rekeys: number;
  messages: { direction: 'in' | 'out'; text: string; status: string; file?: { name: string; size: number; status: string; sha256?: string } }[];
}

export class ChatView {
  readonly element = el('section', 'chat');
  readonly #sessions = new Map<string, ChatSession>();
  /** Downloaded files by message id: a blob URL and the SHA-256 of the bytes (shown, and in the snapshot). */
  readonly #downloads = new Map<string, { url: string; sha256: string }>();
  #active: string | undefined;
  #client: MtcallClient | undefined;
  #readTimer: ReturnType<typeof setTimeout> | undefined;

  constructor() {
    this.element.hidden = true;
  }

  /** Starts listening for chats others open with this device. */
  attach(client: MtcallClient): void {
    this.#client = client;
    client.on('chat', (session) => this.#add(session, false));
  }

  /** Opens (or shows) the chat with `userId`. */
  open(userId: string): void {
    if (!this.#client) return;
    this.#add(this.#client.chat(userId), true);
  }

  snapshot(): ChatSnapshot[] {
    return [...this.#sessions.values()].map((s) => ({
      peer: s.peerId, state: s.state, rekeys: s.key?.rekeys ?? 0,
      ...(s.key ? { key: hex(s.key.visualization), fingerprint: s.key.fingerprint.toString() } : {}),
      messages: s.messages.map((m) => ({
        direction: m.direction, text: m.text, status: m.status,
        ...(m.file ? { file: { name: m.file.name, size: m.file.size, status: m.file.status, ...(this.#downloads.has(m.id) ? { sha256: this.#downloads.get(m.id)!.sha256 } : {}) } } : {}),
      })),
    }));
  }

  #add(session: ChatSession, focus: boolean): void {
    const known = this.#sessions.get(session.peerId);
    if (known !== session) {
      this.#sessions.set(session.peerId, session);
      const render = () => this.#render();
      for (const event of ['message', 'delivered', 'read', 'failed', 'file', 'key', 'state'] as const) session.on(event, render);
      session.on('error', (e) => this.#notice(session, `⚠ ${e.message}`));
    }
    if (focus || this.#active === undefined) this.#active = session.peerId;
    this.element.hidden = false;
    this.#render();
  }

  #notice(session: ChatSession, text: string): void {
    if (this.#active !== session.peerId) return;
    const notice = this.element.querySelector('.chat-notice');
    if (notice) notice.textContent = text;
  }

  #render(): void {
    const session = this.#active !== undefined ? this.#sessions.get(this.#active) : undefined;
    if (!session) return;
    const tabs = el('div', 'chat-tabs');
    for (const peer of this.#sessions.keys()) {
      const tab = el('button', peer === this.#active ? 'primary' : '', peer);
      tab.dataset['chatTab'] = peer;
      tab.addEventListener('click', () => {
        this.#active = peer;
        this.#render();
      });
      tabs.append(tab);
    }
    const head = el('div', 'chat-head');
    head.append(el('h3', '', `Secret chat with ${session.peerId}`));
    const key = session.key;
    if (key) {
      const picture = keyPicture(key.visualization);
      head.dataset['key'] = hex(key.visualization);
      head.dataset['fingerprint'] = key.fingerprint.toString();
      head.dataset['rekeys'] = String(key.rekeys);
      picture.title = 'Compare this picture with the one on the other person\'s screen. Same picture: nobody is in the middle.';
      head.append(picture, el('div', 'sub', `Encrypted end to end. Not verified until you compare this picture with ${session.peerId}'s. Key ${key.rekeys > 0 ? `replaced ${key.rekeys}× (forward secrecy)` : 'in use since the chat began'}.`));
    } else {
      head.append(el('div', 'sub', session.state === 'closed' ? `Closed (${session.closeReason ?? 'closed'}).` : `Waiting for ${session.peerId} to come online and accept…`));
    }
    const list = el('ol', 'chat-messages');
    for (const m of session.messages) {
      const item = el('li', m.direction);
      item.dataset['status'] = m.status;
      if (m.text) item.append(el('span', 'text', m.text));
      if (m.file) item.append(this.#fileLink(session, m));
      if (m.status === 'failed') item.append(this.#failedNote(session, m));
      else if (m.direction === 'out') item.append(el('span', 'ticks', STATUS[m.status]));
      list.append(item);
    }
    const form = el('form', 'chat-form');
    const input = el('input');
    input.id = 'chat-input';
    input.placeholder = 'Message';
    input.maxLength = 4000;
    input.disabled = session.state !== 'established';
    const send = el('button', 'primary', 'Send');
    send.type = 'submit';
    send.id = 'chat-send';
    send.disabled = session.state !== 'established';
    const file = el('input');
    file.type = 'file';
    file.id = 'chat-file';
    file.disabled = session.state !== 'established';
    file.addEventListener('change', () => {
      const chosen = file.files?.[0];
      if (!chosen) return;
      void chosen.arrayBuffer()
        .then((buffer) => session.sendFile(new Uint8Array(buffer), { name: chosen.name, mimeType: chosen.type || 'application/octet-stream' }))
        .catch((e: Error) => this.#notice(session, `⚠ ${e.message}`));
    });
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const text = input.value.trim();
      if (!text) return;
      try {
        session.send(text);
        input.value = '';
      } catch (e) {
        this.#notice(session, `⚠ ${(e as Error).message}`);
      }
    });
    form.append(input, send, file);
    const focused = document.activeElement?.id === 'chat-input';
    const typed = this.element.querySelector<HTMLInputElement>('#chat-input')?.value ?? '';
    this.element.replaceChildren(tabs, head, list, form, el('div', 'chat-notice'));
    input.value = typed;
    if (focused) input.focus();
    list.scrollTop = list.scrollHeight;
    // Shown on screen: read (once per half second at most, so a burst of messages is one receipt).
    if (session.state === 'established' && document.visibilityState === 'visible' && this.#readTimer === undefined) {
      this.#readTimer = setTimeout(() => {
        this.#readTimer = undefined;
        if (session.state === 'established') session.markRead();
      }, 500);
    }
  }

  /** "not sent: queue full" and a Retry button (the same encrypted packet goes again). */
  #failedNote(session: ChatSession, m: ChatMessage): HTMLElement {
    const note = el('span', 'failed', `not sent: ${(m.failure ?? 'refused').replace(/-/g, ' ')}`);
    const retry = el('button', 'link', 'Retry');
    retry.type = 'button';
    retry.addEventListener('click', () => {
      try {
        session.retry(m.id);
      } catch (e) {
        this.#notice(session, `⚠ ${(e as Error).message}`);
      }
      this.#render();
    });
    note.append(' ', retry);
    return note;
  }

  #fileLink(session: ChatSession, m: ChatMessage): HTMLElement {
    const file = m.file!;
    const label = `📎 ${file.name} (${Math.ceil(file.size / 1024)} kB)`;
    if (m.direction === 'out') return el('span', 'file', label);
    const done = this.#downloads.get(m.id);
    if (done) {
      const link = el('a', 'file', label);
      link.href = done.url;
      link.download = file.name;
      link.dataset['sha256'] = done.sha256;
      return link;
    }
    const button = el('button', 'file', `${label} — download`);
    button.dataset['download'] = m.id;
    button.addEventListener('click', () => {
      button.disabled = true;
      void session.downloadFile(m.id).then(async (downloaded) => {
        const bytes = new Uint8Array(downloaded);
        const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
        this.#downloads.set(m.id, { url: URL.createObjectURL(new Blob([bytes], { type: file.mimeType })), sha256: hex(digest) });
        this.#render();
      }).catch((e: Error) => this.#notice(session, `⚠ ${e.message}`));
    });
    return button;
  }
}
