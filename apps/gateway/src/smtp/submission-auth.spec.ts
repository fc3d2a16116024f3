import { hashPassword, SubmissionAuthFile } from './submission-auth';

// small scrypt cost: these tests are about the format and the comparison, not the work factor
const FAST = { N: 1024, r: 8, p: 1 };

describe('SubmissionAuthFile', () => {
  it('verifies the right password and refuses a wrong one or an unknown user', async () => {
    const line = `legacy:${await hashPassword('s3cret pass', FAST)}`;
    const file = SubmissionAuthFile.parse(`# users\n\n${line}\n`);
    expect(file.size).toBe(1);
    expect(await file.verify('legacy', 's3cret pass')).toBe(true);
    expect(await file.verify('legacy', 's3cret pasS')).toBe(false);
    expect(await file.verify('nobody', 's3cret pass')).toBe(false);
  });

  it('writes the scrypt parameters into the hash and salts every hash', async () => {
    const a = await hashPassword('x', FAST);
    const b = await hashPassword('x', FAST);
    expect(a).toMatch(/^scrypt\$1024\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]{44}$/);
    expect(a).not.toBe(b);
  });

  it('names every bad line at once', () => {
    expect(() => SubmissionAuthFile.parse('a:plain\nb:scrypt$3$8$1$AA==$AA==\nc')).toThrow(/line 1[\s\S]*line 2[\s\S]*line 3/);
  });

  it('refuses duplicate users', async () => {
    const h = await hashPassword('x', FAST);
    expect(() => SubmissionAuthFile.parse(`u:${h}\nu:${h}`)).toThrow(/duplicate user u/);
  });

  it('refuses an empty password to hash', async () => {
    await expect(hashPassword('')).rejects.toThrow(TypeError);
  });
});
