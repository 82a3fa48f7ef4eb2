/**
 * The mtcall demo app: sign in with a name, see who is online, call; both sides see each other and the same four
 * emoji. `startApp` renders it into #app; the production entry (main.ts) starts it as people use it, the test entry
 * (test/main.ts, only in the test build) adds what the end-to-end tests drive through URL parameters.
 */

import './style.css';
import { SignalingClient, type Call, type CallEndReason, type PresenceEntry } from '@mtcall/signaling';
import { detectTransformMode, type TransformMode, type TransportStats } from '@mtcall/transport';
import { MediaSession, type InboundStats } from './session.js';

/** How the app runs. Production sets only `relayOnly` (from ?relay=1); the rest is for the test entry. */
export interface AppOptions {
  /** Start with "Relay only" ticked. */
  relayOnly?: boolean;
  /** Video codec to force first (e.g. 'VP8', 'H264'). */
  codec?: string | undefined;
  /** Force an encoded-transform API. */
  transform?: TransformMode | undefined;
  /** Calls without a camera. */
  audioOnly?: boolean;
  /** Send a second video track (a second capture of the camera, as a screen share would add one). */
  secondVideoTrack?: boolean;
  /** The encryption worker of each call (default: the product worker, ./worker.ts). */
  createWorker?: (() => Worker) | undefined;
  /** Called for each incoming call once it is shown (the test entry accepts it there). */
  onIncoming?: ((accept: () => Promise<void>) => void) | undefined;
  /** Called every second while in a call, after the stats were refreshed. */
  onTick?: (() => void) | undefined;
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

const REASONS: Record<CallEndReason, string> = {
  'bad-dh-config': 'The server offered unsafe encryption parameters (its DH prime or generator failed a check), so the call was refused.',
  'bad-g-a': "The caller's key share failed a safety check. The call was stopped.",
  'bad-g-b': "The other side's key share failed a safety check. The call was stopped.",
  'commitment-mismatch': "The caller's key did not match what it committed to — someone may be tampering. The call was stopped.",
  'fingerprint-mismatch': 'The two sides computed different keys. The call was stopped.',
  'protocol-error': 'The call setup went out of order and was stopped.',
  declined: 'The call was declined.',
  busy: 'They are in another call.',
  hangup: 'The call ended.',
  timeout: 'No answer.',
  'answered-elsewhere': 'You answered on another device.',
  offline: 'They are not online.',
  disconnected: 'The connection was lost.',
  'seq-exhausted': 'The call reached its message limit and was ended for safety.',
  'verification-failed': 'The emoji did not match — someone may be in the middle. The call was ended.',
  'connection-lost': 'The connection was lost and could not be restored.',
  failed: 'The call could not be placed.',
};

interface State {
  me?: string | undefined;
  client?: SignalingClient | undefined;
  people: PresenceEntry[];
  call?: Call | undefined;
  session?: MediaSession | undefined;
  local?: MediaStream | undefined;
  emoji?: string[] | undefined;
  status: string;
  mic: boolean;
  cam: boolean;
  peerMedia?: { audio: boolean; video: boolean } | undefined;
  transport?: TransportStats | undefined;
  inbound?: InboundStats | undefined;
  error?: string | undefined;
  incoming?: Call | undefined;
  mitmWarning: boolean;
  /** iceTransportPolicy 'relay': media only through the TURN relay the server hands out. */
  relayOnly: boolean;
  /** The server hands out a TURN relay (config.json). */
  relayAvailable: boolean;
  /** Why the media path is not coming up (relay refused, no relay, ICE failed), when known. */
  pathProblem?: string | undefined;
  /** Why the last call ended. */
  endReason?: CallEndReason | undefined;
}

const state: State = { people: [], status: 'Not in a call', mic: true, cam: true, mitmWarning: false, relayOnly: false, relayAvailable: false };
let app: HTMLDivElement;
let remoteStream: MediaStream | undefined;
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

async function signIn(name: string): Promise<void> {
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/signal`;
  const client = new SignalingClient({ url, userId: name, presence: true });
  client.on('presence', (people) => {
    state.people = people.filter((p) => p.userId !== name);
    render();
  });
  client.on('incoming', (call) => onIncoming(call));
  client.on('error', (e) => (e.code === 'bad-dh-config' ? showError(REASONS['bad-dh-config']) : console.warn('signaling:', e.code, e.message)));
  client.on('close', () => showError('Disconnected from the signaling server.'));
  await client.connect();
  state.me = name;
  state.client = client;
  render();
}

async function localMedia(): Promise<MediaStream | undefined> {
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: auto.audioOnly ? false : { width: 640, height: 480 } });
    if (auto.secondVideoTrack) for (const track of (await navigator.mediaDevices.getUserMedia({ video: { width: 320, height: 240 } })).getVideoTracks()) stream.addTrack(track);
    return stream;
  } catch (error) {
    const name = (error as DOMException).name;
    showError(name === 'NotAllowedError' ? 'Camera and microphone access was denied. Allow it in the browser to call.' : `No camera or microphone: ${(error as Error).message}`);
    return undefined;
  }
}

async function placeCall(peer: string): Promise<void> {
  if (state.call) return;
  const local = await localMedia();
  if (!local) return;
  state.local = local;
  const call = state.client!.call(peer, { video: !auto.audioOnly });
  track(call, `Calling ${peer}…`);
}

function onIncoming(call: Call): void {
  if (state.call) {
    call.decline();
    return;
  }
  state.incoming = call;
  call.on('ended', () => {
    if (state.incoming === call) {
      state.incoming = undefined;
      render();
    }
  });
  render();
  auto.onIncoming?.(acceptIncoming);
}

async function acceptIncoming(): Promise<void> {
  const call = state.incoming;
  if (!call) return;
  state.incoming = undefined;
  const local = await localMedia();
  if (!local) {
    call.decline();
    return;
  }
  state.local = local;
  track(call, `Connecting to ${call.peerId}…`);
  call.accept();
}

function track(call: Call, status: string): void {
  state.call = call;
  state.status = status;
  call.on('state', (s) => {
    if (s === 'waiting') state.status = `Ringing ${call.peerId}…`;
    render();
  });
  call.on('established', (keys) => {
    state.emoji = keys.emoji;
    state.status = `Encrypted call with ${call.peerId}`;
    const iceServers = state.client?.iceServers ?? [];
    if (state.relayOnly && iceServers.length === 0) {
      state.pathProblem = 'Relay only is on, but this server offers no TURN relay (start the demo with --relay), so no media can flow.';
      showError(state.pathProblem);
    }
    state.session = new MediaSession({
      call,
      local: state.local!,
      codec: auto.codec,
      transform: auto.transform,
      createWorker: auto.createWorker,
      relayOnly: state.relayOnly,
      iceServers,
      onRemoteTrack: (stream) => {
        remoteStream = stream;
        render();
      },
      onPeerMedia: (m) => {
        state.peerMedia = m;
        render();
      },
      onError: (message) => {
        console.warn('media:', message);
        mediaErrors.push(message);
        if (mediaErrors.length > 10) mediaErrors.shift();
      },
    });
    render();
  });
  call.on('ended', ({ reason, byPeer }) => {
    state.endReason = reason;
    void state.session?.close();
    state.local?.getTracks().forEach((t) => t.stop());
    const message = reason === 'hangup' && !byPeer ? 'You ended the call.' : REASONS[reason];
    Object.assign(state, { call: undefined, session: undefined, local: undefined, emoji: undefined, peerMedia: undefined, transport: undefined, inbound: undefined, pathProblem: undefined });
    remoteStream = undefined;
    state.status = message;
    if (reason !== 'hangup') showError(message);
    render();
  });
  render();
}

function toggle(kind: 'audio' | 'video'): void {
  const on = kind === 'audio' ? (state.mic = !state.mic) : (state.cam = !state.cam);
  state.local?.getTracks().filter((t) => t.kind === kind).forEach((t) => (t.enabled = on));
  state.session?.announceMedia({ audio: state.mic, video: state.cam });
  render();
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
        const button = el('button', { class: 'primary', disabled: !!state.call || p.inCall, textContent: 'Call' });
        button.dataset['call'] = p.userId;
        button.addEventListener('click', () => void placeCall(p.userId));
        return el('div', { class: 'person' }, el('div', { class: 'avatar' }, p.userId[0]!.toUpperCase()),
          el('div', { class: 'name' }, p.userId, el('div', { class: 'sub' }, el('span', { class: p.inCall ? 'dot busy' : 'dot' }), p.inCall ? 'in a call' : 'online')), button);
      }));
  const relay = el('input', { type: 'checkbox', id: 'relay-only', checked: state.relayOnly, disabled: !!state.call });
  relay.addEventListener('change', () => {
    state.relayOnly = relay.checked;
    render();
  });
  const relayRow = el('label', { class: 'sub', title: 'Send media only through the TURN relay (iceTransportPolicy "relay"): the other side never learns your IP address. The relay only sees encrypted packets.' },
    relay, ' Relay only', state.relayAvailable ? '' : ' (this server has no relay)');
  return el('div', { class: 'panel people' }, el('h3', {}, 'Online'), list, relayRow);
}

function statsView(): HTMLElement {
  const t = state.transport;
  const i = state.inbound;
  const drops = t ? Object.values(t.dropped).reduce((a, b) => a + b, 0) : 0;
  const rows: [string, string][] = [
    ['Frames encrypted', t ? String(t.sealed.frames) : '—'],
    ['Frames decrypted', t ? String(t.opened.frames) : '—'],
    ['Dropped (forged/replayed)', t ? `${drops}${drops ? ` (${Object.entries(t.dropped).filter(([, n]) => n).map(([r, n]) => `${r} ${n}`).join(', ')})` : ''}` : '—'],
    ['Encrypt cost / frame', t && t.sealed.frames ? `${(t.sealMicros / t.sealed.frames).toFixed(1)} µs` : '—'],
    ['Video frames shown', i ? String(i.videoFramesDecoded) : '—'],
    ['Codecs', i ? [i.outboundVideoCodec ?? i.videoCodec, i.audioCodec].filter(Boolean).map((c) => c!.split('/')[1]).join(' + ') || '—' : '—'],
    ['Path', state.pathProblem ?? (i?.candidateType ? (i.candidateType === 'relay' || i.remoteCandidateType === 'relay' ? 'via relay' : 'direct') : state.relayOnly ? 'relay only…' : '—')],
    ['Media API', detectTransformMode(auto.transform) ?? 'unsupported'],
  ];
  return el('div', { class: 'panel stats' }, el('h3', {}, 'Encryption'), el('table', {}, ...rows.map(([k, v]) => el('tr', {}, el('td', {}, k), el('td', {}, v)))));
}

function stageView(): HTMLElement {
  const videos = el('div', { class: 'videos' });
  if (state.call && remoteStream) {
    const remote = el('video', { class: 'remote', autoplay: true, playsInline: true });
    remote.srcObject = remoteStream;
    videos.append(remote);
  } else {
    videos.append(el('div', { class: 'placeholder' }, el('div', { class: 'big' }, state.call ? '📞' : '🔒'), state.status));
  }
  if (state.local && !auto.audioOnly) {
    const local = el('video', { class: 'local', autoplay: true, playsInline: true, muted: true });
    local.srcObject = state.local;
    videos.append(local);
  }
  if (state.emoji) {
    videos.append(el('div', { class: 'emoji-card', id: 'emoji-card' },
      el('div', { class: 'emoji', id: 'emoji' }, state.emoji.join('')),
      el('div', { class: 'explain' }, `Ask ${state.call?.peerId ?? 'them'} which four emoji they see. If they match, nobody is listening in: a man in the middle would get different emoji (odds of faking them: 1 in 12 billion).`)));
  }
  const controls = el('div', { class: 'controls' });
  if (state.call) {
    const mic = el('button', { textContent: state.mic ? '🎙️ Mute' : '🔇 Unmute', id: 'mute' });
    mic.addEventListener('click', () => toggle('audio'));
    const cam = el('button', { textContent: state.cam ? '📷 Camera off' : '📷 Camera on', id: 'camera', disabled: auto.audioOnly });
    cam.addEventListener('click', () => toggle('video'));
    const hang = el('button', { class: 'bad', textContent: 'Hang up', id: 'hangup' });
    hang.addEventListener('click', () => state.call?.hangUp());
    controls.append(mic, cam, hang);
  }
  const status = el('div', { class: 'status', id: 'status' }, state.emoji ? el('span', { class: 'lock' }, '🔒 End-to-end encrypted') : '', el('b', {}, state.status),
    state.peerMedia && !state.peerMedia.video ? ' · their camera is off' : '', state.peerMedia && !state.peerMedia.audio ? ' · they are muted' : '');
  return el('div', { class: 'stage' }, status, videos, controls);
}

function incomingView(): HTMLElement | undefined {
  const call = state.incoming;
  if (!call) return undefined;
  const accept = el('button', { class: 'good', textContent: 'Accept', id: 'accept' });
  accept.addEventListener('click', () => void acceptIncoming());
  const decline = el('button', { class: 'bad', textContent: 'Decline', id: 'decline' });
  decline.addEventListener('click', () => {
    state.incoming = undefined;
    call.decline();
    render();
  });
  return el('div', { class: 'modal-back' }, el('div', { class: 'modal', id: 'incoming' }, el('div', { class: 'avatar' }, call.peerId[0]!.toUpperCase()),
    el('h2', {}, call.peerId), el('p', {}, `is calling you (${call.video ? 'video' : 'audio'})`), el('div', { class: 'row' }, decline, accept)));
}

function render(): void {
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
  const [transport, inbound] = await Promise.all([session.transportStats(), session.inbound()]);
  if (state.session !== session) return; // the call ended meanwhile
  state.transport = transport;
  state.inbound = inbound;
  const problem = pathProblem(inbound);
  if (problem && problem !== state.pathProblem) showError(problem);
  state.pathProblem = problem ?? state.pathProblem;
  const statsPanel = document.querySelector('.stats');
  if (statsPanel) statsPanel.replaceWith(statsView());
  auto.onTick?.();
}

/** Why media cannot flow, from the peer connection's own evidence (ICE errors, gathering, connection state). */
function pathProblem(i: InboundStats): string | undefined {
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
  return { errors: [...mediaErrors], pathProblem: state.pathProblem, relayOnly: state.relayOnly, me: state.me, status: state.status, emoji: state.emoji, callState: state.call?.state, endReason: state.endReason, transport: state.transport, inbound: state.inbound, userAgent: navigator.userAgent, mode: detectTransformMode(auto.transform) };
}

async function refresh(): Promise<Snapshot> {
  const session = state.session;
  if (!session) return snapshot();
  const [transport, inbound] = await Promise.all([session.transportStats(), session.inbound()]);
  if (state.session !== session) return snapshot(); // the call ended meanwhile
  state.transport = transport;
  state.inbound = inbound;
  state.pathProblem = pathProblem(inbound) ?? state.pathProblem;
  return snapshot();
}

/** Renders the app into #app and starts it. */
export function startApp(options: AppOptions = {}): App {
  auto = { ...options, audioOnly: options.audioOnly ?? false };
  state.relayOnly = options.relayOnly ?? false;
  app = document.querySelector<HTMLDivElement>('#app')!;
  setInterval(() => void tick(), 1000);
  void fetch('/config.json').then((r) => r.json()).then((config: { mitm?: boolean; relay?: boolean }) => {
    state.mitmWarning = !!config.mitm;
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
