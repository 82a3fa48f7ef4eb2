/** @mtcall/common — the typed event emitter and error base shared by every mtcall package (browser and Node). */

export { Emitter } from './emitter.js';
export { MtcallError, isMtcallError } from './errors.js';
export { CALL_ROLES, type CallRole } from './roles.js';
