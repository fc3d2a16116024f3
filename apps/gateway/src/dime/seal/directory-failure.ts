// How a failure of the DimeDirectory is read: discovery's DiscoveryError brings its code, its class
// (transient or not) and its precise reply; anything else that carries a boolean `transient` (another
// DimeDirectory) is read by that flag, and the rest is transient, so an unforeseen failure defers
// instead of bouncing.
import { discoveryReply, isDiscoveryError } from '../discovery/discovery.error';

export interface DirectoryFailure {
  readonly transient: boolean;
  readonly code: string;
  readonly message: string;
  /** The discovery reply line, when the error is a DiscoveryError. */
  readonly reply?: string;
}

export function directoryFailure(err: unknown): DirectoryFailure {
  if (isDiscoveryError(err)) return { transient: err.transient, code: err.code, message: err.message, reply: discoveryReply(err) };
  const e = err as { transient?: unknown; permanent?: unknown; code?: unknown; message?: unknown } | null;
  const transient = typeof e?.transient === 'boolean' ? e.transient : typeof e?.permanent === 'boolean' ? !e.permanent : true;
  const code = typeof e?.code === 'string' ? e.code : 'UNKNOWN';
  const message = typeof e?.message === 'string' ? e.message : String(err);
  return { transient, code, message };
}
