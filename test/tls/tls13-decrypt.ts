// Test and demo tool: decrypts recorded TLS 1.3 sessions from the two byte streams a recording
// relay saw (client -> server, server -> client; test/gateway/tcp-capture.ts) and an NSS key log
// (the SSLKEYLOGFILE format node writes with --tls-keylog=FILE or hands to a socket's `keylog`
// event). Shows what really crossed the wire between two gateways, e.g. the DMTP dialogue.
// RFC 8446: records (5.1), inner plaintext (5.2), per-record nonce (5.3), key schedule (7.1, 7.3),
// KeyUpdate (4.6.3). node:crypto only. Several sessions one after the other in the same streams
// (a relay that concatenates its connections) are split at each plaintext ClientHello/ServerHello.
import { createDecipheriv, createHmac } from 'node:crypto';

export type Tls13DecryptErrorCode =
  | 'MALFORMED_RECORD'
  | 'TRUNCATED'
  | 'MALFORMED_HANDSHAKE'
  | 'NOT_TLS13'
  | 'UNSUPPORTED_CIPHER_SUITE'
  | 'MALFORMED_KEYLOG'
  | 'MISSING_SECRET'
  | 'UNPAIRED_SESSION'
  | 'DECRYPT_FAILED';

export class Tls13DecryptError extends Error {
  override readonly name = 'Tls13DecryptError';
  constructor(
    readonly code: Tls13DecryptErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export const TLS_CONTENT_TYPE = { changeCipherSpec: 20, alert: 21, handshake: 22, applicationData: 23 } as const;

const CONTENT_TYPE_NAMES: Readonly<Record<number, string>> = { 20: 'change_cipher_spec', 21: 'alert', 22: 'handshake', 23: 'application_data' };

/** One TLS record as it appears on the wire. */
export interface TlsRecord {
  /** Outer content type (23 for every encrypted TLS 1.3 record). */
  readonly type: number;
  readonly typeName: string;
  /** legacy_record_version (0x0303 in TLS 1.3, 0x0301 on a first ClientHello). */
  readonly version: number;
  /** Offset of the 5-byte header in the stream. */
  readonly offset: number;
  /** The whole record: header and fragment. */
  readonly bytes: Buffer;
  readonly fragment: Buffer;
}

/** TLS 1.3 cipher suites this tool decrypts. */
export const TLS13_CIPHER_SUITES = {
  0x1301: { name: 'TLS_AES_128_GCM_SHA256', cipher: 'aes-128-gcm', keyLength: 16, hash: 'sha256', hashLength: 32 },
  0x1302: { name: 'TLS_AES_256_GCM_SHA384', cipher: 'aes-256-gcm', keyLength: 32, hash: 'sha384', hashLength: 48 },
  0x1303: { name: 'TLS_CHACHA20_POLY1305_SHA256', cipher: 'chacha20-poly1305', keyLength: 32, hash: 'sha256', hashLength: 32 },
} as const;

type SuiteId = keyof typeof TLS13_CIPHER_SUITES;
type Suite = (typeof TLS13_CIPHER_SUITES)[SuiteId];

const TAG_LENGTH = 16;
const IV_LENGTH = 12;
const MAX_CIPHERTEXT = 16384 + 256;
/** ServerHello.random of a HelloRetryRequest (RFC 8446 4.1.3). */
const HRR_RANDOM = Buffer.from('cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c', 'hex');
const HANDSHAKE = { clientHello: 1, serverHello: 2, newSessionTicket: 4, finished: 20, keyUpdate: 24 } as const;
const EXT_SUPPORTED_VERSIONS = 0x002b;
const TLS13 = 0x0304;

/** Splits a byte stream into TLS records; a partial record at the end is an error (TRUNCATED). */
export function parseTlsRecords(stream: Uint8Array): TlsRecord[] {
  if (!(stream instanceof Uint8Array)) throw new TypeError(`"stream" expected Uint8Array, got ${typeof stream}`);
  const buf = Buffer.from(stream.buffer, stream.byteOffset, stream.byteLength);
  const records: TlsRecord[] = [];
  let pos = 0;
  while (pos < buf.length) {
    if (buf.length - pos < 5) throw new Tls13DecryptError('TRUNCATED', `stream ends inside a record header at offset ${pos} (${buf.length - pos} of 5 bytes)`);
    const type = buf[pos]!;
    const version = buf.readUInt16BE(pos + 1);
    const length = buf.readUInt16BE(pos + 3);
    if (CONTENT_TYPE_NAMES[type] === undefined) throw new Tls13DecryptError('MALFORMED_RECORD', `unknown record content type ${type} at offset ${pos}: not a TLS stream`);
    if (version >> 8 !== 0x03) throw new Tls13DecryptError('MALFORMED_RECORD', `record version 0x${version.toString(16)} at offset ${pos}: not a TLS stream`);
    if (length > MAX_CIPHERTEXT) throw new Tls13DecryptError('MALFORMED_RECORD', `record length ${length} at offset ${pos} exceeds 2^14 + 256`);
    if (buf.length - pos - 5 < length) throw new Tls13DecryptError('TRUNCATED', `stream ends inside a ${CONTENT_TYPE_NAMES[type]} record at offset ${pos} (${buf.length - pos - 5} of ${length} bytes)`);
    const bytes = buf.subarray(pos, pos + 5 + length);
    records.push({ type, typeName: CONTENT_TYPE_NAMES[type]!, version, offset: pos, bytes, fragment: bytes.subarray(5) });
    pos += 5 + length;
  }
  return records;
}

/** Secrets of one TLS 1.3 connection from the key log, by NSS label. */
export type Tls13Secrets = ReadonlyMap<string, Buffer>;

/**
 * Parses NSS key log lines (`LABEL <client_random hex> <secret hex>`; `#` comments and blank
 * lines skipped) into client_random (hex, lower case) -> label -> secret.
 */
export function parseKeyLog(text: string | Uint8Array): Map<string, Map<string, Buffer>> {
  const source = typeof text === 'string' ? text : Buffer.from(text).toString('latin1');
  const byRandom = new Map<string, Map<string, Buffer>>();
  source.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const m = /^([A-Z0-9_]+) ([0-9a-fA-F]{64}) ((?:[0-9a-fA-F]{2})+)$/.exec(line);
    if (!m) throw new Tls13DecryptError('MALFORMED_KEYLOG', `key log line ${index + 1} is not "LABEL <client_random> <secret>": ${line.slice(0, 60)}`);
    const random = m[2]!.toLowerCase();
    let secrets = byRandom.get(random);
    if (!secrets) byRandom.set(random, (secrets = new Map()));
    secrets.set(m[1]!, Buffer.from(m[3]!, 'hex'));
  });
  return byRandom;
}

function hkdfExpand(hash: string, prk: Buffer, info: Buffer, length: number): Buffer {
  const blocks: Buffer[] = [];
  let previous = Buffer.alloc(0);
  let total = 0;
  for (let i = 1; total < length; i++) {
    previous = createHmac(hash, prk).update(previous).update(info).update(Buffer.from([i])).digest();
    blocks.push(previous);
    total += previous.length;
  }
  return Buffer.concat(blocks).subarray(0, length);
}

/** HKDF-Expand-Label (RFC 8446 7.1). */
export function hkdfExpandLabel(hash: 'sha256' | 'sha384', secret: Uint8Array, label: string, context: Uint8Array, length: number): Buffer {
  const fullLabel = Buffer.from(`tls13 ${label}`, 'latin1');
  if (fullLabel.length > 255 || context.length > 255) throw new RangeError('"label" and "context" must be at most 255 bytes');
  const info = Buffer.concat([Buffer.from([length >> 8, length & 0xff, fullLabel.length]), fullLabel, Buffer.from([context.length]), context]);
  return hkdfExpand(hash, Buffer.from(secret), info, length);
}

/** Decrypts one direction's records of one epoch, then the next (handshake -> application -> KeyUpdate...). */
class RecordProtection {
  private key: Buffer;
  private iv: Buffer;
  private seq = 0n;

  constructor(
    private readonly suite: Suite,
    private secret: Buffer,
  ) {
    [this.key, this.iv] = this.derive(secret);
  }

  private derive(secret: Buffer): [Buffer, Buffer] {
    const hash = this.suite.hash;
    return [hkdfExpandLabel(hash, secret, 'key', Buffer.alloc(0), this.suite.keyLength), hkdfExpandLabel(hash, secret, 'iv', Buffer.alloc(0), IV_LENGTH)];
  }

  /** RFC 8446 7.2: application_traffic_secret_N+1. */
  keyUpdate(): void {
    this.secret = hkdfExpandLabel(this.suite.hash, this.secret, 'traffic upd', Buffer.alloc(0), this.suite.hashLength);
    [this.key, this.iv] = this.derive(this.secret);
    this.seq = 0n;
  }

  /** Returns [inner content type, content]. */
  open(record: TlsRecord, where: string): [number, Buffer] {
    if (record.fragment.length < TAG_LENGTH + 1) throw new Tls13DecryptError('MALFORMED_RECORD', `${where}: encrypted record of ${record.fragment.length} bytes is shorter than its tag`);
    const nonce = Buffer.from(this.iv);
    const seq = Buffer.alloc(8);
    seq.writeBigUInt64BE(this.seq);
    for (let i = 0; i < 8; i++) nonce[IV_LENGTH - 8 + i]! ^= seq[i]!;
    const body = record.fragment.subarray(0, record.fragment.length - TAG_LENGTH);
    const tag = record.fragment.subarray(record.fragment.length - TAG_LENGTH);
    let inner: Buffer;
    try {
      // the GCM/ChaCha20 overloads differ only in authTagLength; it is 16 for all three suites
      const decipher = createDecipheriv(this.suite.cipher as 'aes-128-gcm', this.key, nonce, { authTagLength: TAG_LENGTH });
      decipher.setAAD(record.bytes.subarray(0, 5));
      decipher.setAuthTag(tag);
      inner = Buffer.concat([decipher.update(body), decipher.final()]);
    } catch {
      throw new Tls13DecryptError('DECRYPT_FAILED', `${where}: record ${this.seq} does not authenticate under the key log's secret (wrong secret, or a record missing from the capture)`);
    }
    this.seq++;
    // TLSInnerPlaintext: content || ContentType || zeros (RFC 8446 5.2)
    let end = inner.length - 1;
    while (end >= 0 && inner[end] === 0) end--;
    if (end < 0) throw new Tls13DecryptError('MALFORMED_RECORD', `${where}: decrypted record is all padding (no inner content type)`);
    return [inner[end]!, inner.subarray(0, end)];
  }
}

/** What one direction of one session carried once decrypted. */
export interface Tls13Direction {
  /** Application data, in order, all records joined. */
  readonly applicationData: Buffer;
  /** Each application_data record's plaintext (record boundaries kept). */
  readonly applicationRecords: readonly Buffer[];
  /** Handshake message types seen in this direction (plaintext and encrypted), in order. */
  readonly handshakeTypes: readonly number[];
  /** The handshake messages themselves (type and body), e.g. the server's Certificate (11). */
  readonly handshakeMessages: readonly { readonly type: number; readonly body: Buffer }[];
  /** Alerts as [level, description] (e.g. [1, 0] = close_notify). */
  readonly alerts: readonly (readonly [number, number])[];
  /** Every record on the wire in this direction (for hexdumps and byte counts). */
  readonly records: readonly TlsRecord[];
  readonly keyUpdates: number;
}

export interface Tls13Session {
  readonly clientRandom: string;
  readonly cipherSuite: string;
  readonly cipherSuiteId: number;
  readonly helloRetry: boolean;
  readonly clientToServer: Tls13Direction;
  readonly serverToClient: Tls13Direction;
}

export interface Tls13Decrypted {
  readonly sessions: readonly Tls13Session[];
  /** All sessions' client -> server application data joined. */
  readonly clientToServer: Buffer;
  /** All sessions' server -> client application data joined. */
  readonly serverToClient: Buffer;
}

interface SessionRecords {
  readonly records: TlsRecord[];
  /** ClientHello.random (client side) or ServerHello (server side) fields. */
  random?: Buffer;
  suiteId?: number;
  helloRetry: boolean;
}

/** Handshake messages of plaintext handshake records (only hellos travel in the clear in TLS 1.3). */
function plaintextHandshakeMessages(record: TlsRecord, where: string): { type: number; body: Buffer }[] {
  const out: { type: number; body: Buffer }[] = [];
  let pos = 0;
  const f = record.fragment;
  while (pos < f.length) {
    if (f.length - pos < 4) throw new Tls13DecryptError('MALFORMED_HANDSHAKE', `${where}: handshake header cut at offset ${record.offset + 5 + pos}`);
    const type = f[pos]!;
    const length = f.readUIntBE(pos + 1, 3);
    if (f.length - pos - 4 < length) throw new Tls13DecryptError('MALFORMED_HANDSHAKE', `${where}: a hello split over several records is not supported (offset ${record.offset})`);
    out.push({ type, body: f.subarray(pos + 4, pos + 4 + length) });
    pos += 4 + length;
  }
  return out;
}

function clientHelloRandom(body: Buffer, where: string): Buffer {
  if (body.length < 34) throw new Tls13DecryptError('MALFORMED_HANDSHAKE', `${where}: ClientHello of ${body.length} bytes is too short`);
  return body.subarray(2, 34);
}

function parseServerHello(body: Buffer, where: string): { random: Buffer; suiteId: number; version: number } {
  const bad = (what: string) => new Tls13DecryptError('MALFORMED_HANDSHAKE', `${where}: ServerHello ${what}`);
  if (body.length < 38) throw bad('too short');
  const legacyVersion = body.readUInt16BE(0);
  const random = body.subarray(2, 34);
  const sidLength = body[34]!;
  let pos = 35 + sidLength;
  if (body.length < pos + 3) throw bad('cut inside session id / cipher suite');
  const suiteId = body.readUInt16BE(pos);
  pos += 3; // cipher_suite, legacy_compression_method
  let version = legacyVersion;
  if (body.length >= pos + 2) {
    const extEnd = pos + 2 + body.readUInt16BE(pos);
    if (extEnd > body.length) throw bad('extensions run past its end');
    pos += 2;
    while (pos + 4 <= extEnd) {
      const type = body.readUInt16BE(pos);
      const length = body.readUInt16BE(pos + 2);
      if (pos + 4 + length > extEnd) throw bad('extension runs past the extensions block');
      if (type === EXT_SUPPORTED_VERSIONS && length === 2) version = body.readUInt16BE(pos + 4);
      pos += 4 + length;
    }
  }
  return { random, suiteId, version };
}

/** Client direction: a ClientHello with a new random starts a new session (the HRR retry keeps it). */
function splitClientSessions(records: readonly TlsRecord[]): SessionRecords[] {
  const sessions: SessionRecords[] = [];
  for (const record of records) {
    let current = sessions[sessions.length - 1];
    if (record.type === TLS_CONTENT_TYPE.handshake) {
      const where = `client->server offset ${record.offset}`;
      const hello = plaintextHandshakeMessages(record, where).find((m) => m.type === HANDSHAKE.clientHello);
      if (!hello) throw new Tls13DecryptError('MALFORMED_HANDSHAKE', `${where}: plaintext handshake record without a ClientHello (TLS 1.3 encrypts everything after the hellos)`);
      const random = clientHelloRandom(hello.body, where);
      if (!current || !current.random?.equals(random)) sessions.push((current = { records: [], random, helloRetry: false }));
      else current.helloRetry = true;
    }
    if (!current) throw new Tls13DecryptError('MALFORMED_HANDSHAKE', `client->server offset ${record.offset}: ${record.typeName} record before any ClientHello`);
    current.records.push(record);
  }
  return sessions;
}

/** Server direction: each ServerHello (not a HelloRetryRequest) ends the previous session. */
function splitServerSessions(records: readonly TlsRecord[]): SessionRecords[] {
  const sessions: SessionRecords[] = [];
  let pendingRetry: TlsRecord[] | undefined;
  for (const record of records) {
    let current = sessions[sessions.length - 1];
    if (record.type === TLS_CONTENT_TYPE.handshake) {
      const where = `server->client offset ${record.offset}`;
      const hello = plaintextHandshakeMessages(record, where).find((m) => m.type === HANDSHAKE.serverHello);
      if (!hello) throw new Tls13DecryptError('MALFORMED_HANDSHAKE', `${where}: plaintext handshake record without a ServerHello`);
      const sh = parseServerHello(hello.body, where);
      if (sh.version !== TLS13) {
        throw new Tls13DecryptError('NOT_TLS13', `${where}: the server chose version 0x${sh.version.toString(16).padStart(4, '0')} (TLS 1.2 or older); only TLS 1.3 sessions can be decrypted`);
      }
      if (sh.random.equals(HRR_RANDOM)) {
        (pendingRetry ??= []).push(record);
        continue;
      }
      sessions.push((current = { records: [...(pendingRetry ?? []), record], random: sh.random, suiteId: sh.suiteId, helloRetry: pendingRetry !== undefined }));
      pendingRetry = undefined;
      continue;
    }
    if (pendingRetry) {
      pendingRetry.push(record);
      continue;
    }
    if (!current) throw new Tls13DecryptError('MALFORMED_HANDSHAKE', `server->client offset ${record.offset}: ${record.typeName} record before any ServerHello`);
    current.records.push(record);
  }
  if (pendingRetry) throw new Tls13DecryptError('UNPAIRED_SESSION', 'server->client ends after a HelloRetryRequest without the ServerHello that follows it');
  return sessions;
}

function secret(secrets: ReadonlyMap<string, Buffer> | undefined, label: string, clientRandom: string, suite: Suite): Buffer {
  const value = secrets?.get(label);
  if (!value) throw new Tls13DecryptError('MISSING_SECRET', `the key log has no ${label} for client_random ${clientRandom}`);
  if (value.length !== suite.hashLength) throw new Tls13DecryptError('MALFORMED_KEYLOG', `${label} for client_random ${clientRandom} is ${value.length} bytes; ${suite.name} needs ${suite.hashLength}`);
  return value;
}

/** Decrypts one direction: handshake epoch until this side's Finished, then application epochs. */
function decryptDirection(records: readonly TlsRecord[], suite: Suite, handshakeSecret: Buffer, trafficSecret: Buffer, label: string): Tls13Direction {
  let protection = new RecordProtection(suite, handshakeSecret);
  let epoch: 'handshake' | 'application' = 'handshake';
  const applicationRecords: Buffer[] = [];
  const handshakeMessages: { type: number; body: Buffer }[] = [];
  const alerts: [number, number][] = [];
  let keyUpdates = 0;
  let pendingHandshake = Buffer.alloc(0);
  for (const record of records) {
    const where = `${label} offset ${record.offset}`;
    if (record.type === TLS_CONTENT_TYPE.changeCipherSpec) continue; // middlebox compatibility, no meaning in 1.3
    if (record.type === TLS_CONTENT_TYPE.handshake) {
      handshakeMessages.push(...plaintextHandshakeMessages(record, where));
      continue;
    }
    if (record.type === TLS_CONTENT_TYPE.alert) {
      if (record.fragment.length === 2) alerts.push([record.fragment[0]!, record.fragment[1]!]);
      continue;
    }
    const [type, content] = protection.open(record, where);
    if (type === TLS_CONTENT_TYPE.applicationData) {
      if (epoch !== 'application') throw new Tls13DecryptError('MALFORMED_RECORD', `${where}: application data before the Finished message (0-RTT early data is not supported)`);
      applicationRecords.push(content);
    } else if (type === TLS_CONTENT_TYPE.alert) {
      if (content.length === 2) alerts.push([content[0]!, content[1]!]);
    } else if (type === TLS_CONTENT_TYPE.handshake) {
      pendingHandshake = Buffer.concat([pendingHandshake, content]);
      let switchTo: 'application' | 'keyUpdate' | undefined;
      while (pendingHandshake.length >= 4) {
        const length = pendingHandshake.readUIntBE(1, 3);
        if (pendingHandshake.length < 4 + length) break;
        const type = pendingHandshake[0]!;
        handshakeMessages.push({ type, body: pendingHandshake.subarray(4, 4 + length) });
        pendingHandshake = pendingHandshake.subarray(4 + length);
        if (type === HANDSHAKE.finished && epoch === 'handshake') switchTo = 'application';
        else if (type === HANDSHAKE.keyUpdate && epoch === 'application') switchTo = 'keyUpdate';
      }
      // a key change happens at a record boundary (RFC 8446 5.1): from the next record on
      if (switchTo && pendingHandshake.length > 0) throw new Tls13DecryptError('MALFORMED_HANDSHAKE', `${where}: handshake message spans a key change`);
      if (switchTo === 'application') {
        protection = new RecordProtection(suite, trafficSecret);
        epoch = 'application';
      } else if (switchTo === 'keyUpdate') {
        protection.keyUpdate();
        keyUpdates++;
      }
    } else {
      throw new Tls13DecryptError('MALFORMED_RECORD', `${where}: inner content type ${type} is not alert, handshake or application data`);
    }
  }
  const handshakeTypes = handshakeMessages.map((m) => m.type);
  return { applicationData: Buffer.concat(applicationRecords), applicationRecords, handshakeTypes, handshakeMessages, alerts, records, keyUpdates };
}

export interface Tls13Capture {
  /** Bytes client -> server (one or more sessions one after the other). */
  readonly clientToServer: Uint8Array;
  /** Bytes server -> client, the same sessions in the same order. */
  readonly serverToClient: Uint8Array;
  /** NSS key log text (or the lines a socket's `keylog` event gave, joined). */
  readonly keyLog: string | Uint8Array;
}

/**
 * The certificate chain (DER, leaf first) of a TLS 1.3 Certificate message body (RFC 8446 4.4.2):
 * what the server really presented, read from the decrypted handshake.
 */
export function certificatesOfMessage(body: Uint8Array): Buffer[] {
  const b = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const bad = () => new Tls13DecryptError('MALFORMED_HANDSHAKE', 'Certificate message does not parse');
  if (b.length < 4) throw bad();
  let pos = 1 + b[0]!; // certificate_request_context
  if (b.length < pos + 3) throw bad();
  const end = pos + 3 + b.readUIntBE(pos, 3);
  if (end > b.length) throw bad();
  pos += 3;
  const certs: Buffer[] = [];
  while (pos < end) {
    if (end - pos < 3) throw bad();
    const length = b.readUIntBE(pos, 3);
    if (pos + 3 + length + 2 > end) throw bad();
    certs.push(b.subarray(pos + 3, pos + 3 + length));
    pos += 3 + length;
    pos += 2 + b.readUInt16BE(pos); // extensions
  }
  return certs;
}

/** Decrypts every TLS 1.3 session in the capture; any record that does not decrypt is an error. */
export function decryptTls13(capture: Tls13Capture): Tls13Decrypted {
  const keys = parseKeyLog(capture.keyLog);
  // the server side first: its ServerHello says whether this is TLS 1.3 at all
  const serverSessions = splitServerSessions(parseTlsRecords(capture.serverToClient));
  const clientSessions = splitClientSessions(parseTlsRecords(capture.clientToServer));
  if (clientSessions.length !== serverSessions.length) {
    throw new Tls13DecryptError('UNPAIRED_SESSION', `${clientSessions.length} ClientHello session(s) client->server but ${serverSessions.length} ServerHello session(s) server->client`);
  }
  const sessions = clientSessions.map((client, i): Tls13Session => {
    const server = serverSessions[i]!;
    const suiteId = server.suiteId!;
    const suite = TLS13_CIPHER_SUITES[suiteId as SuiteId] as Suite | undefined;
    if (!suite) throw new Tls13DecryptError('UNSUPPORTED_CIPHER_SUITE', `session ${i + 1}: cipher suite 0x${suiteId.toString(16).padStart(4, '0')} is not one of ${Object.values(TLS13_CIPHER_SUITES).map((s) => s.name).join(', ')}`);
    const clientRandom = client.random!.toString('hex');
    const secrets = keys.get(clientRandom);
    if (!secrets) throw new Tls13DecryptError('MISSING_SECRET', `session ${i + 1}: the key log has no secrets for client_random ${clientRandom}`);
    const get = (label: string) => secret(secrets, label, clientRandom, suite);
    return {
      clientRandom,
      cipherSuite: suite.name,
      cipherSuiteId: suiteId,
      helloRetry: server.helloRetry,
      clientToServer: decryptDirection(client.records, suite, get('CLIENT_HANDSHAKE_TRAFFIC_SECRET'), get('CLIENT_TRAFFIC_SECRET_0'), `session ${i + 1} client->server`),
      serverToClient: decryptDirection(server.records, suite, get('SERVER_HANDSHAKE_TRAFFIC_SECRET'), get('SERVER_TRAFFIC_SECRET_0'), `session ${i + 1} server->client`),
    };
  });
  return {
    sessions,
    clientToServer: Buffer.concat(sessions.map((s) => s.clientToServer.applicationData)),
    serverToClient: Buffer.concat(sessions.map((s) => s.serverToClient.applicationData)),
  };
}
