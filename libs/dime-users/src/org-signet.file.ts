// The org signet file hsm-init writes (`<out>/org.signet`, armored ORGANIZATIONAL SIGNET, signed by
// the HSM POK). Read once at boot (ORG_SIGNET_FILE); a missing or invalid file stops the boot.
import { readFileSync } from 'node:fs';
import { readSignet, validateSignet, type Signet } from '@lib/dime';

export function readOrgSignetFile(path: string): Signet {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read the org signet "${path}" (${(err as NodeJS.ErrnoException).code ?? 'unreadable'}): run appliance/hsm-init.sh`);
  }
  const signet = readSignet(text, 'org');
  const state = validateSignet(signet, { none: true });
  if (state !== 'FULL' && state !== 'ID') throw new Error(`the org signet "${path}" validates to ${state}, not FULL or ID`);
  return signet;
}
