// Who can open what, read from keyslot presence, checked against what each actor really opens:
// libdime's vector message (signed by the origin) opened as author, origin, destination and
// recipient with the vector keys.
import { ChunkType, InMemoryKeyAgreement, openMessage, type OpenedMessage } from '@lib/dime';
import { VECTOR_ACTORS, vectorActorKeys, vectorMessage2 } from '../dime-message.fixture';
import { CHUNK_ACTORS, messageVisibility } from './dime-visibility';

/** Names of the chunks an opened message shows its actor (what openMessage decrypted). */
function openedChunks(o: OpenedMessage): string[] {
  const name = (t: number) => CHUNK_ACTORS.get(t)!.name;
  const out: string[] = [];
  if (o.origin) out.push(name(ChunkType.origin));
  if (o.destination) out.push(name(ChunkType.destination));
  if (o.commonHeaders) out.push(name(ChunkType.commonHeaders));
  if (o.otherHeaders) out.push(name(ChunkType.otherHeaders));
  if (o.display.length > 0) out.push(name(ChunkType.display));
  if (o.attachments.length > 0) out.push(name(ChunkType.attachment));
  const sig: [keyof OpenedMessage['signatures'], number][] = [
    ['authorTree', ChunkType.authorTreeSig],
    ['authorFull', ChunkType.authorFullSig],
    ['originMetaBounce', ChunkType.originMetaBounceSig],
    ['originDisplayBounce', ChunkType.originDisplayBounceSig],
    ['originFull', ChunkType.originFullSig],
  ];
  for (const [key, type] of sig) if (o.signatures[key] !== 'not-visible' && o.signatures[key] !== 'absent') out.push(name(type));
  return out.sort();
}

describe('messageVisibility', () => {
  const message = vectorMessage2();

  it.each(VECTOR_ACTORS)('lists exactly the chunks the %s can open', async (actor) => {
    const v = messageVisibility(message);
    expect(v.consistent).toBe(true);
    const opened = await openMessage(message, { actor, keys: new InMemoryKeyAgreement(vectorActorKeys(actor).secp256k1Private), strict: false });
    expect([...v.byActor[actor]].sort()).toEqual(openedChunks(opened));
  });

  it('keeps the relays out of content: origin and destination see no headers, body or attachment', () => {
    const v = messageVisibility(message);
    for (const relay of ['origin', 'destination'] as const) {
      expect(v.byActor[relay].some((n) => /headers|body|attachment/.test(n))).toBe(false);
    }
    expect(v.byActor.destination).toContain(CHUNK_ACTORS.get(ChunkType.destination)!.name);
    expect(v.byActor.destination).not.toContain(CHUNK_ACTORS.get(ChunkType.origin)!.name);
    expect(v.chunks.reduce((n, c) => n + c.length, 0) + 6).toBe(message.length);
  });
});
