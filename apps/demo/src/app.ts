/**
 * The mtcall demo app, built only on the SDK (`@mtcall/client`): sign in with a name, see who is online, call;
 * both sides see each other and the same four emoji, and the page says exactly how protected the call is. The
 * production entry (main.ts) starts it as people use it; the test entry (test/main.ts, only in the test build)
 * adds what the end-to-end tests drive through URL parameters.
 */

import './style.css';
import { EMOJI_FONT_FAMILY, MtcallClient, type ReconnectOptions, type CallEnd, type CallEndReason, type CallSession, type PeerMedia, type PeerStats, type PresenceEntry, type SecurityState, type TransformMode, type TransportStats } from '@mtcall/client';
import { detectTransformMode } from '@mtcall/transport';
import { RoomView } from './room-view.js';
import { ChatView } from './chat-view.js';

/** How the app runs. Production sets only `relayOnly` (from ?relay=1); the rest is for the test entry. */
export interface AppOptions {
  /** Start with "Relay only" ticked. */
  relayOnly?: boolean;
  /** Video codec to prefer (e.g. 'VP8', 'H264'). */
  codec?: string | undefined;
  /** Force an encoded-transform API. */
  transform?: TransformMode | undefined;
  /** Calls without a camera. */
  audioOnly?: boolean;
  /** Once connected, send a second video track (another capture of the camera, the way a screen share adds one). */
  secondVideoTrack?: boolean;
  /** The encryption worker of each call (default: the product worker, ./worker.ts). */
  createWorker?: (() => Worker) | undefined;
  /** Called for each incoming call once it is shown (the test entry accepts it there). */
  onIncoming?: ((accept: () => Promise<void>) => void) | undefined;
  /** Called every second while in a call, after the stats were refreshed. */
  onTick?: (() => void) | undefined;
  /** When to restart ICE and give up on a broken media path (default: the SDK's). */
  reconnect?: Partial<ReconnectOptions> | undefined;
}

/** What the app tells its entry point (the test entry reads snapshots and drives calls through it). */
export interface App {
  signIn(name: string): Promise<void>;
  placeCall(peer: string): Promise<void>;
  /** The page's state as the tests read it. */
  snapshot(): Snapshot;
  /** `snapshot` after refreshing the call's stats. */
  refresh(): Promise<Snapshot>;
}

export type Snapshot = ReturnType<typeof snapshot>;

let auto: Required<Pick<AppOptions, 'audioOnly'>> & AppOptions = { audioOnly: false };

/** Why a call ended, in words; `{peer}` is the other person's name. */
const REASONS: Record<CallEndReason, string> = {
  'bad-dh-config': 'The server offered unsafe encryption parameters (its DH prime or generator failed a check), so the call was refused.',
  'bad-g-a': "The caller's key share failed a safety check. The call was stopped.",
  'bad-g-b': "The other side's key share failed a safety check. The call was stopped.",
  'commitment-mismatch': "The caller's key did not match what it committed to — someone may be tampering. The call was stopped.",
  'fingerprint-mismatch': 'The two sides computed different keys. The call was stopped.',
  'protocol-error': 'The call setup went out of order and was stopped.',
  declined: 'The call was declined.',
  busy: '{peer} is in another call.',
  hangup: '{peer} hung up.',
  timeout: 'No answer.',
  'answered-elsewhere': 'You answered on another device.',
  offline: '{peer} is not online.',
  disconnected: 'The connection to {peer} was lost.',
  'seq-exhausted': 'The call reached its message limit and was ended for safety.',
  'verification-failed': 'The emoji did not match — someone may be in the middle. The call was ended.',
  'connection-lost': 'Connection lost: the media path broke and could not be restored.',
  failed: 'The call could not be placed.',
};

/** What the status line says in each security state: never more than is true. */
const SECURITY_WORDS: Record<SecurityState, { icon: string; text: string; tone: 'muted' | 'good' | 'verified' | 'bad' }> = {
  agreeing: { icon: '🔑', text: 'Agreeing on a key…', tone: 'muted' },
  'keys-agreed': { icon: '🔑', text: 'Key agreed — waiting for encrypted media. Compare the emoji.', tone: 'muted' },
  'media-protected': { icon: '🔒', text: 'End-to-end encrypted — compare the emoji to be sure nobody is in the middle', tone: 'good' },
  verified: { icon: '✅', text: 'End-to-end encrypted and verified: you both see the same emoji', tone: 'verified' },
  'keys-differ': { icon: '⚠️', text: 'Keys differ: the other side holds a different key — someone may be in the middle. Hang up.', tone: 'bad' },
};

interface State {
  me?: string | undefined;
  client?: MtcallClient | undefined;
  people: PresenceEntry[];
  session?: CallSession | undefined;
  incoming?: CallSession | undefined;
  local?: MediaStream | undefined;
  remote?: MediaStream | undefined;
  remoteScreen?: MediaStream | undefined;
  emoji?: string[] | undefined;
  security?: SecurityState | undefined;
  status: string;
  /** How long the last call lasted, e.g. "Call lasted 1:05". */
  lastDuration?: string | undefined;
  peerMedia?: PeerMedia | undefined;
  transport?: TransportStats | undefined;
  peer?: PeerStats | undefined;
  reconnecting: boolean;
  /** Media-path interruptions of this call so far, how long the last one lasted, ICE restarts. */
  recoveries: number;
  lastDownForMs?: number | undefined;
  iceRestarts: number;
  error?: string | undefined;
  mitmWarning: boolean;
  relayOnly: boolean;
  relayAvailable: boolean;
  pathProblem?: string | undefined;
  endReason?: CallEndReason | undefined;
  devices: MediaDeviceInfo[];
}

const state: State = { people: [], status: 'Not in a call', reconnecting: false, recoveries: 0, iceRestarts: 0, mitmWarning: false, relayOnly: false, relayAvailable: false, devices: [] };
let app: HTMLDivElement;
/** Rooms (group calls through the server's SFU): their view lives beside #app, outside the re-rendered tree. */
const roomView = new RoomView();
/** Secret chats (messages and files, in and outside a call): their panel lives beside #app too. */
const chatView = new ChatView();
let roomsAvailable = false;
/** The last media errors, shown in reports (tests) and the console. */
const mediaErrors: string[] = [];

function el<K extends keyof HTMLElementTagNameMap>(tag: K, props: Partial<HTMLElementTagNameMap[K]> & { class?: string } = {}, ...children: (Node | string | undefined | false)[]): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  const { class: className, ...rest } = props;
  if (className) node.className = className;
  Object.assign(node, rest);
  for (const child of children) if (child) node.append(child);
  return node;
}

function showError(message: string): void {
  state.error = message;
  render();
  setTimeout(() => {
    if (state.error === message) {
      state.error = undefined;
      render();
    }
  }, 8000);
}

function noteError(message: string): void {
  console.warn('media:', message);
  mediaErrors.push(message);
  if (mediaErrors.length > 10) mediaErrors.shift();
}

async function signIn(name: string): Promise<void> {
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/signal`;
  const client = await MtcallClient.connect({
    url, userId: name, directory: true, relayOnly: state.relayOnly,
    ...(auto.createWorker ? { worker: auto.createWorker } : { worker: () => new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' }) }),
    roomWorker: () => new Worker(new URL('./room-worker.ts', import.meta.url), { type: 'module' }),
    ...(auto.transform ? { transform: auto.transform } : {}),
    ...(auto.codec ? { videoCodec: auto.codec } : {}),
    ...(auto.reconnect ? { reconnect: auto.reconnect } : {}),
  });
  client.on('presence', (people) => {
    state.people = people.filter((p) => p.userId !== name && p.devices > 0);
    render();
  });
  client.on('incoming', (session) => onIncoming(session));
  chatView.attach(client);
  client.on('error', (e) => (e.message.startsWith('bad-dh-config') ? showError(REASONS['bad-dh-config']) : console.warn('signaling:', e.code, e.message)));
  client.on('disconnected', () => showError('Disconnected from the signaling server.'));
  state.me = name;
  state.client = client;
  state.people = client.presence.filter((p) => p.userId !== name && p.devices > 0);
  void refreshDevices();
  render();
}

async function refreshDevices(): Promise<void> {
  state.devices = await navigator.mediaDevices.enumerateDevices().catch(() => []);
  render();
}

async function placeCall(peer: string): Promise<void> {
  if (state.session || !state.client) return;
  state.client.relayOnly = state.relayOnly;
  const session = state.client.call(peer, { audio: true, video: !auto.audioOnly });
  follow(session, `Calling ${peer}…`);
}

function onIncoming(session: CallSession): void {
  if (state.session) {
    session.decline();
    return;
  }
  state.incoming = session;
  session.on('ended', () => {
    if (state.incoming === session) {
      state.incoming = undefined;
      render();
    }
  });
  render();
  auto.onIncoming?.(acceptIncoming);
}

async function acceptIncoming(): Promise<void> {
  const session = state.incoming;
  if (!session) return;
  state.incoming = undefined;
  if (state.client) state.client.relayOnly = state.relayOnly;
  follow(session, `Connecting to ${session.peerId}…`);
  await session.accept({ audio: true, video: !auto.audioOnly }).catch(() => undefined); // failures arrive as 'error' and 'ended'
}

function follow(session: CallSession, status: string): void {
  Object.assign(state, { session, status, recoveries: 0, iceRestarts: 0, lastDownForMs: undefined, emoji: undefined, security: undefined, endReason: undefined, lastDuration: undefined, peerMedia: undefined, remote: undefined, remoteScreen: undefined, reconnecting: false, pathProblem: undefined });
  session.on('local-stream', (stream) => {
    state.local = stream;
    render();
  });
  session.on('ringing', () => {
    state.status = `Ringing ${session.peerId}…`;
    render();
  });
  session.on('keys', ({ emoji }) => {
    state.emoji = emoji;
    state.status = `In a call with ${session.peerId}`;
    if (state.relayOnly && !state.relayAvailable) {
      state.pathProblem = 'Relay only is on, but this server offers no TURN relay (start the demo with --relay), so no media can flow.';
      showError(state.pathProblem);
    }
    render();
  });
  session.on('security', ({ state: security }) => {
    state.security = security;
    render();
  });
  session.on('remote-stream', (stream) => {
    state.remote = stream;
    render();
  });
  session.on('track', ({ source, stream }) => {
    if (source === 'screen') {
      state.remoteScreen = stream;
      render();
    }
  });
  session.on('peer-media', (media) => {
    state.peerMedia = media;
    if (!media.screen) state.remoteScreen = undefined;
    render();
  });
  session.on('reconnecting', () => {
    state.reconnecting = true;
    render();
  });
  session.on('connected', ({ downForMs, iceRestarts }) => {
    state.reconnecting = false;
    state.iceRestarts = iceRestarts;
    if (downForMs !== undefined) {
      state.recoveries++;
      state.lastDownForMs = downForMs;
    }
    if (auto.secondVideoTrack && !session.sharingScreen) void addSecondVideoTrack(session);
    render();
  });
  session.on('error', (e) => {
    noteError(`${e.code}: ${e.message}`);
    if (e.code.startsWith('media-') || e.code === 'encryption-unsupported') showError(e.message);
  });
  session.on('ended', (end) => onEnded(session, end));
  render();
}

async function addSecondVideoTrack(session: CallSession): Promise<void> {
  const stream = await navigator.mediaDevices.getUserMedia({ video: { width: 320, height: 240 } });
  await session.shareScreen(stream.getVideoTracks()[0]!).catch((e: Error) => noteError(e.message));
}

function onEnded(session: CallSession, end: CallEnd): void {
  if (state.session !== session) return;
  const message = end.reason === 'hangup' && end.by === 'local' ? 'You ended the call.' : REASONS[end.reason].replace('{peer}', session.peerId);
  Object.assign(state, {
    session: undefined, local: undefined, remote: undefined, remoteScreen: undefined, emoji: undefined, security: undefined, peerMedia: undefined,
    transport: undefined, peer: undefined, pathProblem: undefined, reconnecting: false, endReason: end.reason, status: message,
    lastDuration: end.durationMs > 0 ? `Call lasted ${formatDuration(end.durationMs)}` : undefined,
  });
  if (end.reason !== 'hangup') showError(message);
  render();
}

function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

// ---- rendering ---------------------------------------------------------------------------------------------

function header(): HTMLElement {
  return el('header', {}, el('div', { class: 'logo' }, 'm'), el('h1', {}, 'mtcall'), el('span', { class: 'tag' }, 'end-to-end encrypted calls'),
    state.me ? el('span', { class: 'me' }, 'Signed in as ', el('b', {}, state.me)) : undefined);
}

function signInView(): HTMLElement {
  const input = el('input', { placeholder: 'Your name (e.g. alice)', autofocus: true, maxLength: 32, id: 'name' });
  const form = el('form', {}, input, el('button', { class: 'primary', type: 'submit', id: 'join' }, 'Join'));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const name = input.value.trim().replace(/[^A-Za-z0-9_.@-]/g, '').slice(0, 32);
    if (name) signIn(name).catch((e: Error) => showError(`Could not connect: ${e.message}`));
  });
  return el('div', { class: 'signin' }, el('h2', {}, 'Private calls, verified by four emoji'),
    el('p', {}, 'Pick a name and call someone who is online. Your audio and video are encrypted end to end: the server only relays scrambled data. Compare the four emoji with the other person to be sure nobody is in the middle.'), form);
}

function peopleView(): HTMLElement {
  const list = state.people.length === 0
    ? el('div', { class: 'empty' }, 'Nobody else is online yet. Open this page in another browser and sign in with another name.')
    : el('div', {}, ...state.people.map((p) => {
        const button = el('button', { class: 'primary', disabled: !!state.session || p.inCall, textContent: 'Call' });
        button.dataset['call'] = p.userId;
        button.addEventListener('click', () => void placeCall(p.userId));
        const chat = el('button', { textContent: 'Chat', title: 'A secret chat: end-to-end encrypted messages and files, also when they are offline' });
        chat.dataset['chat'] = p.userId;
        chat.addEventListener('click', () => chatView.open(p.userId));
        return el('div', { class: 'person' }, el('div', { class: 'avatar' }, p.userId[0]!.toUpperCase()),
          el('div', { class: 'name' }, p.userId, el('div', { class: 'sub' }, el('span', { class: p.inCall ? 'dot busy' : 'dot' }), p.inCall ? 'in a call' : 'online')), chat, button);
      }));
  const relay = el('input', { type: 'checkbox', id: 'relay-only', checked: state.relayOnly, disabled: !!state.session });
  relay.addEventListener('change', () => {
    state.relayOnly = relay.checked;
    render();
  });
  const relayRow = el('label', { class: 'relay-row', title: 'Send media only through the TURN relay (iceTransportPolicy "relay"): the other side never learns your IP address. The relay only sees encrypted packets.' },
    relay, el('span', {}, 'Relay only'), state.relayAvailable ? '' : el('span', { class: 'sub' }, '(this server has no relay)'));
  return el('div', { class: 'panel people' }, el('h3', {}, 'Online'), list, relayRow, roomsAvailable ? roomForm() : undefined);
}

/** Join a room by name (a group call: everyone who joins the same name meets there). */
function roomForm(): HTMLElement {
  if (roomView.inRoom) return el('div', { class: 'room-form sub' }, 'In a room (below).');
  const input = el('input', { placeholder: 'Room name (e.g. standup)', maxLength: 64, id: 'room-name' });
  const form = el('form', { class: 'room-form' }, input, el('button', { class: 'primary', type: 'submit', id: 'join-room', disabled: !!state.session }, 'Join room'));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const name = input.value.trim().replace(/[^A-Za-z0-9_.-]/g, '').slice(0, 64);
    if (name && state.client) roomView.join(state.client, name).catch((e: Error) => showError(`Could not join the room: ${e.message}`));
  });
  return el('div', {}, el('h3', {}, 'Rooms'), form);
}

function statsView(): HTMLElement {
  const t = state.transport;
  const p = state.peer;
  const drops = t ? Object.values(t.dropped).reduce((a, b) => a + b, 0) : 0;
  const rows: [string, string][] = [
    ['Security', state.security ?? '—'],
    ['Frames encrypted', t ? String(t.sealed.frames) : '—'],
    ['Frames decrypted', t ? String(t.opened.frames) : '—'],
    ['Dropped (forged/replayed)', t ? `${drops}${drops ? ` (${Object.entries(t.dropped).filter(([, n]) => n).map(([r, n]) => `${r} ${n}`).join(', ')})` : ''}` : '—'],
    ['Encrypt cost / frame', t && t.sealed.frames ? `${(t.sealMicros / t.sealed.frames).toFixed(1)} µs` : '—'],
    ['Video frames shown', p ? String(p.videoFramesDecoded) : '—'],
    ['Codecs', p ? [p.outboundVideoCodec ?? p.videoCodec, p.audioCodec].filter(Boolean).map((c) => c!.split('/')[1]).join(' + ') || '—' : '—'],
    ['Path', state.pathProblem ?? (p?.path === 'relay' ? 'via relay' : p?.path === 'direct' ? 'direct' : state.relayOnly ? 'relay only…' : '—')],
    ['Media API', detectTransformMode(auto.transform) ?? 'unsupported'],
  ];
  return el('div', { class: 'panel stats' }, el('h3', {}, 'Encryption'), el('table', {}, ...rows.map(([k, v]) => el('tr', {}, el('td', {}, k), el('td', {}, v)))));
}

function video(stream: MediaStream, className: string, muted = false): HTMLVideoElement {
  const v = el('video', { class: className, autoplay: true, playsInline: true, muted });
  v.srcObject = stream;
  return v;
}

function emojiCard(session: CallSession): HTMLElement {
  const security = state.security;
  const card = el('div', { class: `emoji-card${security === 'keys-differ' ? ' differ' : security === 'verified' ? ' verified' : ''}`, id: 'emoji-card' });
  const emoji = el('div', { class: 'emoji', id: 'emoji' }, state.emoji!.join(''));
  emoji.style.fontFamily = EMOJI_FONT_FAMILY;
  card.append(emoji);
  if (security === 'keys-differ') {
    card.append(el('div', { class: 'explain' }, `${session.peerId}'s side holds a different key, so someone may be relaying this call. Do not trust it: hang up.`));
  } else if (security === 'verified') {
    card.append(el('div', { class: 'explain' }, `You confirmed ${session.peerId} sees these same four emoji.`));
  } else {
    const match = el('button', { class: 'good small', textContent: 'They match', id: 'match' });
    match.addEventListener('click', () => session.confirmEmoji(true));
    const mismatch = el('button', { class: 'bad small', textContent: "They don't match", id: 'mismatch' });
    mismatch.addEventListener('click', () => session.confirmEmoji(false));
    card.append(el('div', { class: 'explain' }, `Ask ${session.peerId} which four emoji they see. If they match, nobody is listening in: a man in the middle would get different emoji (odds of faking them: 1 in 12 billion).`),
      el('div', { class: 'row' }, mismatch, match));
  }
  return card;
}

function deviceSelect(kind: 'audioinput' | 'videoinput', session: CallSession): HTMLElement | undefined {
  const devices = state.devices.filter((d) => d.kind === kind && d.deviceId);
  if (devices.length < 2) return undefined;
  const select = el('select', { id: kind === 'audioinput' ? 'mic-select' : 'cam-select', title: kind === 'audioinput' ? 'Microphone' : 'Camera' },
    ...devices.map((d, i) => el('option', { value: d.deviceId, textContent: d.label || `${kind === 'audioinput' ? 'Microphone' : 'Camera'} ${i + 1}` })));
  const current = (kind === 'audioinput' ? state.local?.getAudioTracks()[0] : state.local?.getVideoTracks()[0])?.getSettings().deviceId;
  if (current) select.value = current;
  select.addEventListener('change', () => void session.switchDevice(kind, select.value).catch((e: Error) => showError(e.message)));
  return select;
}

function stageView(): HTMLElement {
  const session = state.session;
  const videos = el('div', { class: 'videos' });
  const main = state.remoteScreen ?? state.remote;
  if (session && main) {
    videos.append(video(main, 'remote'));
    if (state.remoteScreen && state.remote) videos.append(video(state.remote, 'remote-camera'));
  } else {
    videos.append(el('div', { class: 'placeholder' }, el('div', { class: 'big' }, session ? '📞' : '🔒'), state.status, state.lastDuration ? el('div', { class: 'sub', id: 'duration' }, state.lastDuration) : undefined));
  }
  if (state.local && state.local.getVideoTracks().length > 0) videos.append(video(state.local, 'local', true));
  if (session && state.emoji) videos.append(emojiCard(session));
  if (state.reconnecting) videos.append(el('div', { class: 'reconnecting', id: 'reconnecting' }, 'Reconnecting…'));

  const controls = el('div', { class: 'controls' });
  if (session) {
    const mic = el('button', { textContent: session.microphoneOn ? '🎙️ Mute' : '🔇 Unmute', id: 'mute' });
    mic.addEventListener('click', () => void session.setMicrophone(!session.microphoneOn).then(render, (e: Error) => showError(e.message)));
    const cam = el('button', { textContent: session.cameraOn ? '📷 Camera off' : '📷 Camera on', id: 'camera', disabled: !state.emoji });
    cam.addEventListener('click', () => void session.setCamera(!session.cameraOn).then(render, (e: Error) => showError(e.message)));
    const share = el('button', { textContent: session.sharingScreen ? '🖥️ Stop sharing' : '🖥️ Share screen', id: 'share', disabled: !state.emoji || !navigator.mediaDevices?.getDisplayMedia });
    share.addEventListener('click', () => void (session.sharingScreen ? session.stopScreenShare() : session.shareScreen()).then(render, (e: Error) => showError(e.message)));
    const hang = el('button', { class: 'bad', textContent: 'Hang up', id: 'hangup' });
    hang.addEventListener('click', () => session.hangUp());
    controls.append(mic, cam, share, hang);
    for (const picker of [deviceSelect('audioinput', session), deviceSelect('videoinput', session)]) if (picker) controls.append(picker);
  }
  const words = state.security ? SECURITY_WORDS[state.security] : undefined;
  const peer = state.peerMedia;
  const status = el('div', { class: `status${words?.tone === 'bad' ? ' alarm' : ''}`, id: 'status' },
    words ? el('span', { class: `lock ${words.tone}`, id: 'security' }, `${words.icon} ${words.text}`) : '',
    el('b', {}, state.status),
    peer && !peer.video ? ' · their camera is off' : '', peer && !peer.audio ? ' · they are muted' : '', peer?.screen ? ' · they share their screen' : '');
  return el('div', { class: 'stage' }, status, videos, controls);
}

function incomingView(): HTMLElement | undefined {
  const session = state.incoming;
  if (!session) return undefined;
  const accept = el('button', { class: 'good', textContent: 'Accept', id: 'accept' });
  accept.addEventListener('click', () => void acceptIncoming());
  const decline = el('button', { class: 'bad', textContent: 'Decline', id: 'decline' });
  decline.addEventListener('click', () => {
    state.incoming = undefined;
    session.decline();
    render();
  });
  return el('div', { class: 'modal-back' }, el('div', { class: 'modal', id: 'incoming' }, el('div', { class: 'avatar' }, session.peerId[0]!.toUpperCase()),
    el('h2', {}, session.peerId), el('p', {}, `is calling you (${session.video ? 'video' : 'audio'})`), el('div', { class: 'row' }, decline, accept)));
}

function render(): void {
  if (!app) return;
  const focused = document.activeElement?.id;
  app.replaceChildren(
    ...(state.mitmWarning ? [el('div', { class: 'mitm-banner' }, '⚠ This server is in man-in-the-middle demonstration mode: the emoji will NOT match.')] : []),
    header(),
    state.me ? el('main', {}, el('div', { class: 'side' }, peopleView(), statsView()), stageView()) : signInView(),
    ...[incomingView(), state.error ? el('div', { class: 'toast', id: 'toast' }, state.error) : undefined].filter((x): x is HTMLElement => !!x),
  );
  if (focused) document.getElementById(focused)?.focus();
}

/** Live stats while in a call. */
async function tick(): Promise<void> {
  const session = state.session;
  if (!session) return;
  await refreshStats(session);
  const statsPanel = document.querySelector('.stats');
  if (statsPanel) statsPanel.replaceWith(statsView());
  auto.onTick?.();
}

async function refreshStats(session: CallSession): Promise<void> {
  const stats = await session.stats();
  if (state.session !== session) return; // the call ended meanwhile
  state.transport = stats.transport;
  state.peer = stats.peer;
  const problem = stats.peer ? pathProblem(stats.peer) : undefined;
  if (problem && problem !== state.pathProblem) showError(problem);
  state.pathProblem = problem ?? state.pathProblem;
}

/** Why media cannot flow, from the peer connection's own evidence (ICE errors, gathering, connection state). */
function pathProblem(i: PeerStats): string | undefined {
  const refused = i.iceErrors.find((e) => e.code === 401 || e.code === 403 || e.code === 437 || e.code === 441);
  const noRelay = state.relayOnly && i.iceGatheringState === 'complete' && !i.localCandidateTypes.includes('relay');
  if (refused && (noRelay || i.connectionState === 'failed')) {
    return `The TURN relay refused our credentials (${refused.code} ${refused.text.replace(/\.$/, '') || 'Unauthorized'}): they are expired or not signed by this server, so the call cannot go through the relay.`;
  }
  if (noRelay) return `No relay address could be obtained${i.iceErrors[0] ? ` (${i.iceErrors[0].code} ${i.iceErrors[0].text})` : ''}, and relay only is on: no media can flow.`;
  if (i.connectionState === 'failed') return 'The media connection failed: the two sides could not reach each other (directly or through a relay).';
  return undefined;
}

function snapshot() {
  const p = state.peer;
  return {
    errors: [...mediaErrors], pathProblem: state.pathProblem, relayOnly: state.relayOnly, me: state.me, status: state.status, emoji: state.emoji,
    callState: state.session ? (state.emoji ? 'established' : 'connecting') : undefined, security: state.security, endReason: state.endReason,
    reconnecting: state.reconnecting, recoveries: state.recoveries, lastDownForMs: state.lastDownForMs, iceRestarts: state.iceRestarts,
    transport: state.transport,
    inbound: p ? { ...p, candidateType: p.localCandidateType } : undefined,
    userAgent: navigator.userAgent, mode: detectTransformMode(auto.transform), room: roomView.snapshot(),
    chats: chatView.snapshot(),
  };
}

async function refresh(): Promise<Snapshot> {
  const session = state.session;
  if (session) await refreshStats(session);
  return snapshot();
}

/** Renders the app into #app and starts it. */
export function startApp(options: AppOptions = {}): App {
  auto = { ...options, audioOnly: options.audioOnly ?? false };
  state.relayOnly = options.relayOnly ?? false;
  app = document.querySelector<HTMLDivElement>('#app')!;
  app.after(roomView.element);
  roomView.element.after(chatView.element);
  roomView.onChange(() => render());
  setInterval(() => void tick(), 1000);
  navigator.mediaDevices?.addEventListener?.('devicechange', () => void refreshDevices());
  void fetch('/config.json').then((r) => r.json()).then((config: { mitm?: boolean; relay?: boolean; rooms?: boolean }) => {
    state.mitmWarning = !!config.mitm;
    roomsAvailable = !!config.rooms;
    state.relayAvailable = !!config.relay;
    render();
  }).catch(() => undefined);
  render();
  return {
    signIn: (name) => signIn(name).catch((e: Error) => showError(`Could not connect: ${e.message}`)),
    placeCall,
    snapshot,
    refresh,
  };
}
