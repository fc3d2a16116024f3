// Per-type field definitions of signets and SSRs, transcribed from libdime's signet_org_field_keys /
// signet_user_field_keys / signet_ssr_field_keys (magma-libdime `signet/general.c`; DIGEST.md §2, §4).
// They decide each field's size-prefix width, uniqueness and whether a signature needs it.

export type SignetType = 'org' | 'user' | 'ssr';

export interface SignetFieldSpec {
  readonly fid: number;
  /** libdime's field name, e.g. "Primary-Organizational-Key"; undefined for the unnamed ranges. */
  readonly label: string | undefined;
  /** Width of the size prefix: 0 = fixed-size data (signatures, 64 bytes). */
  readonly sizeWidth: 0 | 1 | 2 | 3;
  /** Fixed data size when sizeWidth is 0. */
  readonly fixedSize: number;
  /** Field 251: a 1-byte name length and the name precede the size. */
  readonly named: boolean;
  readonly unique: boolean;
  /** Must be present before any signature field of higher fid (libdime's "required"). */
  readonly required: boolean;
}

export const SIGNATURE_SIZE = 64;
export const SIGNET_MAX_FID = 255;

/** The field ids with a meaning of their own. */
export const SignetFid = {
  SIGNING_KEY: 1, // org POK / user signing key
  ORG_SOK: 2,
  ORG_ENCRYPTION_KEY: 3,
  ORG_CRYPTO_SIG: 4,
  USER_ENCRYPTION_KEY: 2,
  USER_ALT_ENCRYPTION_KEY: 3,
  USER_CUSTODY_SIG: 4,
  USER_SSR_SIG: 5,
  USER_CRYPTO_SIG: 6,
  NAME: 16,
  WEBSITE: 160,
  UNDEFINED: 251,
  PHOTO: 252,
  FULL_SIG: 253,
  ID: 254,
  ID_SIG: 255,
} as const;

type Row = readonly [fid: number, label: string | undefined, sizeWidth: 0 | 1 | 2 | 3, unique: boolean, required: boolean];

const SIG = 0;
const TEXT_1B_NAMES = [
  'Name', 'Address', 'Province', 'Country', 'Postal-Code', 'Phone-Number', 'Language', 'Currency', 'Cryptocurrency',
  'Motto', 'Extensions', 'Message-Size-Limit',
];

function personalRows(): Row[] {
  // 16..27; Phone-Number (21) is the one repeatable field among them.
  return TEXT_1B_NAMES.map((label, i): Row => [16 + i, label, 1, 16 + i !== 21, false]);
}

function tailRows(): Row[] {
  return [
    [251, 'Undefined-Field', 2, false, false],
    [252, 'Photo', 3, true, false],
    [253, 'Organizational-Signature', SIG, true, true],
    [254, 'Signet-Identifier', 1, true, true],
    [255, 'Organizational-Signature', SIG, true, true],
  ];
}

function range(from: number, to: number, sizeWidth: 1 | 2): Row[] {
  const rows: Row[] = [];
  for (let fid = from; fid <= to; fid++) rows.push([fid, undefined, sizeWidth, true, false]);
  return rows;
}

const ORG_ROWS: Row[] = [
  [1, 'Primary-Organizational-Key', 1, true, true],
  [2, 'Secondary-Organizational-Key', 1, false, false],
  [3, 'Encryption-Key', 1, true, true],
  [4, 'Organizational-Signature', SIG, true, true],
  ...personalRows(),
  ...range(28, 159, 1),
  [160, 'Website', 2, true, false],
  ...range(161, 199, 2),
  ...[
    'Contact-Abuse', 'Contact-Admin', 'Contact-Support', 'Web-Access-Host', 'Web-Access-Location', 'Web-Access-Certificate',
    'Mail-Access-Host', 'Mail-Access-Certificate', 'Onion-Access-Host', 'Onion-Access-Certificate', 'Onion-Delivery-Host',
    'Onion-Delivery-Certificate',
  ].map((label, i): Row => [200 + i, label, 2, true, false]),
  ...range(212, 250, 2),
  ...tailRows(),
];

const USER_ROWS: Row[] = [
  [1, 'Signing-Key', 1, true, true],
  [2, 'Encryption-Key', 1, true, true],
  [3, 'Alternate-Encryption-Key', 1, false, false],
  [4, 'Custody', SIG, true, false],
  [5, 'User-Signature', SIG, true, true],
  [6, 'Organizational-Signature', SIG, true, true],
  ...personalRows(),
  ...range(28, 92, 1),
  ...['Supported-Codecs', 'Title', 'Employer', 'Gender', 'Alma-Mater', 'Supervisor', 'Political-Party'].map(
    (label, i): Row => [93 + i, label, 1, true, false],
  ),
  ...range(100, 159, 1),
  [160, 'Website', 2, true, false],
  ...range(161, 199, 2),
  [200, 'Alternate-Address', 2, true, false],
  [201, 'Resume', 2, true, false],
  [202, 'Endorsements', 2, false, false],
  ...range(203, 250, 2),
  ...tailRows(),
];

const SSR_ROWS: Row[] = [
  [1, 'User-Signing-Key', 1, true, true],
  [2, 'User-Encryption-Key', 1, true, true],
  [3, 'Alternate-Encryption-Key', 1, false, false],
  [4, 'Chain-Of-Custody-Signature', SIG, true, false],
  [5, 'User-Ssr-Signature', SIG, true, true],
];

function table(rows: readonly Row[]): readonly (SignetFieldSpec | undefined)[] {
  const specs = new Array<SignetFieldSpec | undefined>(SIGNET_MAX_FID + 1).fill(undefined);
  for (const [fid, label, sizeWidth, unique, required] of rows) {
    specs[fid] = Object.freeze({
      fid,
      label,
      sizeWidth,
      fixedSize: sizeWidth === 0 ? SIGNATURE_SIZE : 0,
      named: fid === SignetFid.UNDEFINED,
      unique,
      required,
    });
  }
  return Object.freeze(specs);
}

const TABLES: Readonly<Record<SignetType, readonly (SignetFieldSpec | undefined)[]>> = {
  org: table(ORG_ROWS),
  user: table(USER_ROWS),
  ssr: table(SSR_ROWS),
};

/** The definition of fid in signets of this type, or undefined where libdime rejects the fid. */
export function signetFieldSpec(type: SignetType, fid: number): SignetFieldSpec | undefined {
  return TABLES[type][fid];
}
