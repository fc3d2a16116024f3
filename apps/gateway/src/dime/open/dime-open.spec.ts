// Pure parts of the inbound side: reply lines of DimeOpenError, libs/dime errors mapped through the
// DMTP reply table, the memoising key agreement, and how directory failures are read.
import { DimeError, InMemoryKeyAgreement, secp256k1Generate } from '@lib/dime';
import { DiscoveryError } from '../discovery/discovery.error';
import { directoryFailure } from '../seal/directory-failure';
import { DimeSealError } from '../seal/dime-seal.error';
import { DimeOpenError } from './dime-open.error';
import { MemoKeyAgreement } from './memo-key-agreement';

describe('DimeOpenError', () => {
  it('names the domain or address in the reply, printable and bounded', () => {
    expect(new DimeOpenError('ORIGIN_SIGNATURE_INVALID', 'a.test').reply).toBe("554 5.7.7 DIME origin signature invalid: not signed by the origin organisation's key (a.test)");
    const evil = new DimeOpenError('NO_SUCH_RECIPIENT', `x\r\n250 OK${'y'.repeat(500)}`);
    expect(evil.reply).not.toMatch(/[\r\n]/);
    expect(evil.reply.length).toBeLessThan(260);
    expect(new DimeOpenError('DIRECTORY_UNAVAILABLE', undefined)).toMatchObject({ reply: '451 4.4.3 DIME signets of the origin cannot be fetched now', transient: true });
    expect(new DimeOpenError('TAMPERED', undefined).transient).toBe(false);
  });

  it('takes the DMTP reply of a libs/dime error', () => {
    expect(DimeOpenError.fromDimeError('TAMPERED', new DimeError('BAD_PADDING', 'pad')).reply).toBe('554 5.7.7 DIME payload padding inconsistent: message tampered');
    expect(DimeOpenError.fromDimeError('MALFORMED', new DimeError('TRUNCATED', 'short')).reply).toBe('554 5.6.0 DIME message malformed: truncated');
  });
});

describe('DimeSealError', () => {
  it('says whether delivery should defer or bounce', () => {
    expect(new DimeSealError('DIRECTORY_UNAVAILABLE', 'x')).toMatchObject({ transient: true, reply: expect.stringMatching(/^451 4\.4\.3 /) });
    expect(new DimeSealError('SEAL_FAILED', 'x')).toMatchObject({ transient: true, reply: '451 4.3.0 temporary failure, try again later' });
    for (const code of ['SENDER_REFUSED', 'SENDER_SUSPENDED', 'NOT_DIME_DOMAIN', 'DIRECTORY_REFUSED', 'RECIPIENT_SIGNET_INVALID', 'BAD_MESSAGE'] as const) {
      expect(new DimeSealError(code, 'x')).toMatchObject({ transient: false, reply: expect.stringMatching(/^55\d 5\.\d\.\d /) });
    }
  });
});

describe('directoryFailure', () => {
  it('takes class and reply from a DiscoveryError', () => {
    expect(directoryFailure(new DiscoveryError('SIGNET_NOT_FOUND', 'none'))).toEqual({ transient: false, code: 'SIGNET_NOT_FOUND', message: 'none', reply: '550 5.1.1 no DIME signet for the recipient' });
    expect(directoryFailure(new DiscoveryError('DX_UNREACHABLE', 'down'))).toMatchObject({ transient: true, reply: '451 4.4.1 DIME delivery host unreachable' });
    // a reply of the other class never replaces a DimeSealError's (a 4xx stays a 4xx)
    expect(new DimeSealError('DIRECTORY_UNAVAILABLE', 'x', { reply: '550 5.1.1 nope' }).reply).toMatch(/^451 /);
  });

  it('reads other directories by their transient flag and treats anything else as transient', () => {
    expect(directoryFailure(Object.assign(new Error('bad signet'), { code: 'SIGNET_INVALID', transient: false }))).toEqual({ transient: false, code: 'SIGNET_INVALID', message: 'bad signet' });
    expect(directoryFailure(Object.assign(new Error('x'), { code: 'NO_RECORD', permanent: true }))).toMatchObject({ transient: false });
    expect(directoryFailure(new Error('socket hang up'))).toEqual({ transient: true, code: 'UNKNOWN', message: 'socket hang up' });
    expect(directoryFailure('boom')).toEqual({ transient: true, code: 'UNKNOWN', message: 'boom' });
  });
});

describe('MemoKeyAgreement', () => {
  it('derives once per peer, answers from memory after release, forgets on wipe', async () => {
    const inner = new InMemoryKeyAgreement(secp256k1Generate().privateKey);
    const spy = jest.spyOn(inner, 'deriveSharedSecret');
    const memo = new MemoKeyAgreement(inner);
    const peer = secp256k1Generate().publicKey;
    const first = Buffer.from(await memo.deriveSharedSecret(peer));
    memo.release();
    expect(Buffer.from(await memo.deriveSharedSecret(peer))).toEqual(first);
    expect(spy).toHaveBeenCalledTimes(1);
    await expect(memo.deriveSharedSecret(secp256k1Generate().publicKey)).rejects.toThrow(/released/);
    memo.wipe();
    await expect(memo.deriveSharedSecret(peer)).rejects.toThrow(/released/);
  });

  it('hands out copies: a caller wiping its secret does not wipe the memory', async () => {
    const memo = new MemoKeyAgreement(new InMemoryKeyAgreement(secp256k1Generate().privateKey));
    const peer = secp256k1Generate().publicKey;
    const a = await memo.deriveSharedSecret(peer);
    const copy = Buffer.from(a);
    a.fill(0);
    expect(Buffer.from(await memo.deriveSharedSecret(peer))).toEqual(copy);
  });
});
