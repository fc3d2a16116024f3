import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SpoolKeyring } from './spool-keyring';
import { SpoolError, SpoolService } from './spool.service';

describe('SpoolService', () => {
  const dir = mkdtempSync(join(tmpdir(), 'spool-'));
  const keyring = SpoolKeyring.fromKeys(new Map([[1, randomBytes(32)]]), 1);
  // no in-memory copies: these tests tamper with the files
  const spool = new SpoolService(dir, keyring, { recentBytes: 0 });
  afterAll(() => spool.close());

  it('round-trips a message and never stores it in the clear', async () => {
    const id = randomUUID();
    const msg = Buffer.from('Subject: secret subject 42\r\n\r\nsecret body\r\n');
    const { keyId, sha256 } = await spool.write(id, msg);
    expect(keyId).toBe(1);
    expect(sha256).toHaveLength(32);
    const onDisk = readFileSync(join(dir, id.slice(0, 2), `${id}.msg`));
    expect(onDisk.includes(Buffer.from('secret'))).toBe(false);
    expect((await spool.read(id)).equals(msg)).toBe(true);
  });

  it('refuses a tampered spool file', async () => {
    const id = randomUUID();
    await spool.write(id, Buffer.from('hello'));
    const file = join(dir, id.slice(0, 2), `${id}.msg`);
    const bytes = readFileSync(file);
    bytes[bytes.length - 1]! ^= 1;
    writeFileSync(file, bytes);
    await expect(spool.read(id)).rejects.toMatchObject({ code: 'CORRUPT' });
  });

  it('refuses a spool file moved to another message id', async () => {
    const a = randomUUID();
    const b = `${a.slice(0, 2)}${randomUUID().slice(2)}`;
    await spool.write(a, Buffer.from('hello'));
    writeFileSync(join(dir, b.slice(0, 2), `${b}.msg`), readFileSync(join(dir, a.slice(0, 2), `${a}.msg`)));
    await expect(spool.read(b)).rejects.toBeInstanceOf(SpoolError);
  });

  it('reports an aborted acceptance as ABORTED, not as a lost file, and remove() clears it', async () => {
    const id = randomUUID();
    await spool.write(id, Buffer.from('never acknowledged'));
    await spool.markAborted(id);
    await expect(spool.read(id)).rejects.toMatchObject({ code: 'ABORTED' });
    await spool.markAborted(id); // idempotent once the file is gone
    await spool.remove(id);
    await expect(spool.read(id)).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('reports a missing file as NOT_FOUND and removes idempotently', async () => {
    const id = randomUUID();
    await expect(spool.read(id)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await spool.remove(id);
    expect(await spool.exists(id)).toBe(false);
  });

  it('stores every one of many concurrent writes into one directory (grouped directory fsync), leaving no other files', async () => {
    const prefix = randomUUID().slice(0, 2);
    const ids = Array.from({ length: 40 }, () => `${prefix}${randomUUID().slice(2)}`);
    await Promise.all(ids.map((id, i) => spool.write(id, Buffer.from(`message ${i}`))));
    for (const [i, id] of ids.entries()) expect((await spool.read(id)).toString()).toBe(`message ${i}`);
    const files = readdirSync(join(dir, prefix)).filter((f) => ids.some((id) => f.startsWith(id)));
    expect(files.sort()).toEqual(ids.map((id) => `${id}.msg`).sort());
  });

  it('writes again after its subdirectory was removed behind its back', async () => {
    const a = randomUUID();
    await spool.write(a, Buffer.from('first'));
    rmSync(join(dir, a.slice(0, 2)), { recursive: true });
    const b = `${a.slice(0, 2)}${randomUUID().slice(2)}`;
    await spool.write(b, Buffer.from('second'));
    expect((await spool.read(b)).toString()).toBe('second');
  });

  it('serves recently written messages from memory, forgets them on remove and markAborted, and reads large ones from the file', async () => {
    const cached = new SpoolService(dir, keyring, { recentBytes: 4096 });
    try {
      const id = randomUUID();
      await cached.write(id, Buffer.from('kept in memory'));
      const file = join(dir, id.slice(0, 2), `${id}.msg`);
      writeFileSync(file, Buffer.from('overwritten on disk'));
      expect((await cached.read(id)).toString()).toBe('kept in memory');
      await cached.markAborted(id);
      await expect(cached.read(id)).rejects.toMatchObject({ code: 'ABORTED' });

      const removed = randomUUID();
      await cached.write(removed, Buffer.from('gone'));
      await cached.remove(removed);
      await expect(cached.read(removed)).rejects.toMatchObject({ code: 'NOT_FOUND' });
      expect(await cached.exists(removed)).toBe(false);

      const large = randomUUID();
      await cached.write(large, randomBytes(2048)); // > a quarter of the budget
      const path = join(dir, large.slice(0, 2), `${large}.msg`);
      const bytes = readFileSync(path);
      bytes[bytes.length - 1]! ^= 1;
      writeFileSync(path, bytes);
      await expect(cached.read(large)).rejects.toMatchObject({ code: 'CORRUPT' });

      // the oldest entries go once the budget is spent
      const ids = Array.from({ length: 6 }, () => randomUUID());
      for (const x of ids) await cached.write(x, randomBytes(1000));
      rmSync(join(dir, ids[0]!.slice(0, 2), `${ids[0]}.msg`));
      await expect(cached.read(ids[0]!)).rejects.toMatchObject({ code: 'NOT_FOUND' });
      rmSync(join(dir, ids[5]!.slice(0, 2), `${ids[5]}.msg`));
      expect(await cached.read(ids[5]!)).toHaveLength(1000);
    } finally {
      cached.close();
    }
  });
});
