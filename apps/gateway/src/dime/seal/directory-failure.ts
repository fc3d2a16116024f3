// How a failure of the DimeDirectory (discovery/, another part) is read here without importing it:
// its DiscoveryError carries a `code` and a `transient` flag (closed union there); anything without a
// boolean `transient` is treated as transient, so an unforeseen failure defers instead of bouncing.
export interface DirectoryFailure {
  readonly transient: boolean;
  readonly code: string;
  readonly message: string;
}

export function directoryFailure(err: unknown): DirectoryFailure {
  const e = err as { transient?: unknown; permanent?: unknown; code?: unknown; message?: unknown } | null;
  const transient = typeof e?.transient === 'boolean' ? e.transient : typeof e?.permanent === 'boolean' ? !e.permanent : true;
  const code = typeof e?.code === 'string' ? e.code : 'UNKNOWN';
  const message = typeof e?.message === 'string' ? e.message : String(err);
  return { transient, code, message };
}
