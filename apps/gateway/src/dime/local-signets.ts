// The signets this organisation serves over DMTP SGNT and uses for its own users: the org signet
// (made by appliance/hsm-init from the HSM-held POK) and the signets of provisioned, active users.
export interface LocalSignetSource {
  /** The current org signet of a local domain, or undefined when the domain is not ours. */
  orgSignet(domain: string): Promise<Uint8Array | undefined>;
  /** The signet of an active local user; undefined for unknown or suspended users. */
  userSignet(address: string): Promise<Uint8Array | undefined>;
}
