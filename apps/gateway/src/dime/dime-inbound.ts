// What the DMTP listener asks before it says 250 to a DIME message: is it addressed to us, for an
// active local user, and signed by the origin organisation it claims (origin signatures verified
// against the origin's org signet from discovery)? A refusal carries the precise DMTP/SMTP reply.
export interface DimeDoorCheckInput {
  /** `MAIL FROM:<origin-domain>` of the DMTP session. */
  readonly originDomain: string;
  /** `RCPT TO:<destination-domain>` of the DMTP session (one of our local domains). */
  readonly destinationDomain: string;
  /** The binary DATA: one D/MIME message. */
  readonly message: Uint8Array;
  readonly signal?: AbortSignal;
}

export type DimeDoorVerdict =
  | { readonly ok: true; /** The local recipient's mailbox address, from the destination envelope. */ readonly recipient: string; readonly author: string }
  | { readonly ok: false; /** Full reply line, e.g. "554 5.7.1 origin signature does not verify against the org signet of a.test". */ readonly reply: string };

export interface DimeDoorCheck {
  check(input: DimeDoorCheckInput): Promise<DimeDoorVerdict>;
}
