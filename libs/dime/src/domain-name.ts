// Syntax of the names DIME carries in text form: DNS host/domain names (management record dx=,
// DMTP addressing) and mailbox addresses (SGNT/VRFY/HIST of a user signet). ASCII only: DIME and
// our DMTP dialect have no SMTPUTF8; IDNs travel as A-labels (xn--...).

const LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const ALL_DIGITS = /^[0-9]+$/;
// RFC 5321 dot-string atoms; quoted local parts are not accepted (no DIME tool produces them).
const ATOM = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+$/;

export const MAX_DOMAIN_LENGTH = 253;
export const MAX_LOCAL_PART_LENGTH = 64;
export const MAX_ADDRESS_LENGTH = 254;

/** LDH labels of 1-63 chars, at most 253 chars, no trailing dot, top label not all digits (so not an IPv4). */
export function isDomainName(name: string): boolean {
  if (typeof name !== 'string' || name.length === 0 || name.length > MAX_DOMAIN_LENGTH) return false;
  const labels = name.split('.');
  for (const label of labels) if (!LABEL.test(label)) return false;
  return !ALL_DIGITS.test(labels[labels.length - 1] as string);
}

/** `local@domain` with a dot-atom local part (<= 64 chars), a valid domain, <= 254 chars in all. */
export function isMailboxAddress(address: string): boolean {
  if (typeof address !== 'string' || address.length > MAX_ADDRESS_LENGTH) return false;
  const at = address.lastIndexOf('@');
  if (at <= 0 || at > MAX_LOCAL_PART_LENGTH) return false;
  for (const atom of address.slice(0, at).split('.')) if (!ATOM.test(atom)) return false;
  return isDomainName(address.slice(at + 1));
}
