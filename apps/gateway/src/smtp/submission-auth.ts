// SMTP AUTH for the submission listener: a file of `user:scrypt$N$r$p$salt$hash` lines
// (SUBMISSION_AUTH_FILE; salt and hash base64), checked with scrypt and a constant-time compare.
// An unknown user costs the same scrypt run as a known one, so timing does not reveal users.
import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { readFileSync } from 'node:fs';

export interface ScryptParams {
  readonly N: number;
  readonly r: number;
  readonly p: number;
}

/** ~50 ms on a current server core; raise N as hardware gets faster (the hash records its own). */
export const DEFAULT_SCRYPT: ScryptParams = { N: 16384, r: 8, p: 1 };
const KEY_LENGTH = 32;

function scrypt(password: Buffer, salt: Buffer, params: ScryptParams): Promise<Buffer> {
  const options: ScryptOptions = { N: params.N, r: params.r, p: params.p, maxmem: 256 * params.N * params.r + 1024 * 1024 };
  return new Promise((resolve, reject) => scryptCb(password, salt, KEY_LENGTH, options, (err, key) => (err ? reject(err) : resolve(key))));
}

interface StoredHash {
  readonly params: ScryptParams;
  readonly salt: Buffer;
  readonly hash: Buffer;
}

function parseHash(text: string): StoredHash | undefined {
  const m = /^scrypt\$(\d+)\$(\d+)\$(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/.exec(text);
  if (!m) return undefined;
  const params = { N: Number(m[1]), r: Number(m[2]), p: Number(m[3]) };
  if (params.N < 2 || (params.N & (params.N - 1)) !== 0 || params.N > 2 ** 20 || params.r < 1 || params.r > 32 || params.p < 1 || params.p > 16) return undefined;
  const hash = Buffer.from(m[5]!, 'base64');
  if (hash.length !== KEY_LENGTH) return undefined;
  return { params, salt: Buffer.from(m[4]!, 'base64'), hash };
}

export async function hashPassword(password: string, params: ScryptParams = DEFAULT_SCRYPT, salt: Buffer = randomBytes(16)): Promise<string> {
  if (typeof password !== 'string' || password === '') throw new TypeError('"password" expected a non-empty string');
  const key = await scrypt(Buffer.from(password, 'utf8'), salt, params);
  return `scrypt$${params.N}$${params.r}$${params.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

export class SubmissionAuthFile {
  private readonly dummy: StoredHash = { params: DEFAULT_SCRYPT, salt: randomBytes(16), hash: randomBytes(KEY_LENGTH) };

  private constructor(private readonly users: ReadonlyMap<string, StoredHash>) {}

  /** Parses the file text; every bad line is named at once (boot fails on a bad file). */
  static parse(text: string, source = 'SUBMISSION_AUTH_FILE'): SubmissionAuthFile {
    const users = new Map<string, StoredHash>();
    const problems: string[] = [];
    text.split(/\r?\n/).forEach((raw, i) => {
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) return;
      const colon = line.indexOf(':');
      const user = colon > 0 ? line.slice(0, colon) : '';
      const hash = parseHash(line.slice(colon + 1));
      if (!user || !hash) problems.push(`${source} line ${i + 1}: expected user:scrypt$N$r$p$salt$hash`);
      else if (users.has(user)) problems.push(`${source} line ${i + 1}: duplicate user ${user}`);
      else users.set(user, hash);
    });
    if (problems.length > 0) throw new Error(`invalid submission auth file:\n  - ${problems.join('\n  - ')}`);
    return new SubmissionAuthFile(users);
  }

  static load(path: string): SubmissionAuthFile {
    return SubmissionAuthFile.parse(readFileSync(path, 'utf8'), path);
  }

  get size(): number {
    return this.users.size;
  }

  async verify(user: string, password: string): Promise<boolean> {
    const stored = this.users.get(user);
    const target = stored ?? this.dummy;
    const key = await scrypt(Buffer.from(password, 'utf8'), target.salt, target.params);
    return timingSafeEqual(key, target.hash) && stored !== undefined;
  }
}
