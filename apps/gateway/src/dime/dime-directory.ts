// What the gateway knows about other DIME organisations: their `_dx` management record, their
// validated org signet, where to reach them over DMTP, and their users' validated signets.
// Implemented by discovery/ (DNS + DMTP SGNT, cached for the record's `exp`); consumed by the
// seal transformer (outbound) and the inbound verifier (origin/author signets).
import type { ManagementRecord } from '@lib/dime';

export interface DmtpEndpoint {
  /** Host name or address to connect to. */
  readonly host: string;
  readonly port: number;
  /** Name the peer's certificate must carry when the TLS policy verifies it (the `dx` host or the domain). */
  readonly serverName: string;
  /** An MX host's SMTP port in dual mode (`STARTTLS <serverName> MODE=DMTPv1`, docs/dmtp.md §3): pass to DmtpClient.connect. */
  readonly dualMode?: boolean;
}

export interface DimeDomain {
  readonly domain: string;
  readonly record: ManagementRecord;
  /** The org signet, validated against one of the record's POKs (armored-free binary form). */
  readonly orgSignet: Uint8Array;
  /** Delivery hosts in preference order: `dx=` hosts, then MX, then the bare domain (DIGEST.md). */
  readonly endpoints: readonly DmtpEndpoint[];
  /** When the cached answer must be re-validated (record `exp`, capped by configuration). */
  readonly expiresAt: Date;
}

export interface DimeDirectory {
  /**
   * The domain's DIME identity, or undefined when it publishes no `_dx` record (not a DIME domain:
   * plain SMTP under its TLS policy). Throws DiscoveryError when the answer cannot be trusted or obtained.
   */
  lookupDomain(domain: string, signal?: AbortSignal): Promise<DimeDomain | undefined>;
  /**
   * The validated user signet of `address` (fetched over DMTP SGNT from its domain; chains to the org
   * signet). With `fingerprint` (crypto, full or ID, as a message envelope names it), SGNT asks for
   * that signet and the answer must have it.
   */
  userSignet(address: string, signal?: AbortSignal, fingerprint?: string): Promise<Uint8Array>;
}
