// Test and demo tool: who can open what in a D/MIME message, read from the message itself. Each
// chunk carries one 64-byte keyslot per actor allowed to open it (DIGEST.md §6.1 table: envelope
// chunks A,O,R / A,D,R; headers and content A,R; author signatures A,O,R; origin signatures
// A,O,D,R). The keyslot count libdime's framing gives each chunk is cross-checked against this
// table written from the digest (`consistent`).
import { ChunkType, DIME_ACTORS, parseMessageFrame, type DimeActor } from '@lib/dime';

/** DIGEST.md §6.1: chunk type -> name and the actors holding keyslots, in wire order. */
export const CHUNK_ACTORS: ReadonlyMap<number, { readonly name: string; readonly actors: readonly DimeActor[] }> = new Map([
  [ChunkType.ephemeral, { name: 'ephemeral key (plaintext)', actors: [] }],
  [ChunkType.origin, { name: 'origin envelope (author, destination domain)', actors: ['author', 'origin', 'recipient'] }],
  [ChunkType.destination, { name: 'destination envelope (recipient, origin domain)', actors: ['author', 'destination', 'recipient'] }],
  [ChunkType.commonHeaders, { name: 'common headers (From, To, Subject, Date)', actors: ['author', 'recipient'] }],
  [ChunkType.otherHeaders, { name: 'other headers', actors: ['author', 'recipient'] }],
  [ChunkType.display, { name: 'display (body)', actors: ['author', 'recipient'] }],
  [ChunkType.attachment, { name: 'attachment', actors: ['author', 'recipient'] }],
  [ChunkType.authorTreeSig, { name: 'author tree signature', actors: ['author', 'origin', 'recipient'] }],
  [ChunkType.authorFullSig, { name: 'author full signature', actors: ['author', 'origin', 'recipient'] }],
  [ChunkType.originMetaBounceSig, { name: 'origin meta-bounce signature', actors: ['author', 'origin', 'destination', 'recipient'] }],
  [ChunkType.originDisplayBounceSig, { name: 'origin display-bounce signature', actors: ['author', 'origin', 'destination', 'recipient'] }],
  [ChunkType.originFullSig, { name: 'origin full signature', actors: ['author', 'origin', 'destination', 'recipient'] }],
]);

export interface ChunkVisibility {
  readonly type: number;
  readonly name: string;
  readonly offset: number;
  /** Serialized length (header, payload, keyslots). */
  readonly length: number;
  readonly keyslots: number;
  /** Actors with a keyslot in this chunk (none: plaintext chunk, readable by all). */
  readonly actors: readonly DimeActor[];
  /** The keyslot count equals the digest's actor count for this type. */
  readonly consistent: boolean;
}

export interface MessageVisibility {
  readonly size: number;
  readonly chunks: readonly ChunkVisibility[];
  /** actor -> names of the encrypted chunks it holds a keyslot for (repeated chunks once). */
  readonly byActor: Readonly<Record<DimeActor, readonly string[]>>;
  readonly consistent: boolean;
}

export function messageVisibility(message: Uint8Array): MessageVisibility {
  const frame = parseMessageFrame(message);
  const chunks = frame.chunks.map((c): ChunkVisibility => {
    const info = CHUNK_ACTORS.get(c.type);
    const actors = info?.actors ?? [];
    return { type: c.type, name: info?.name ?? `chunk ${c.type}`, offset: c.offset, length: c.length, keyslots: c.keyslots.length, actors, consistent: info !== undefined && c.keyslots.length === actors.length };
  });
  const byActor = Object.fromEntries(
    DIME_ACTORS.map((actor) => [actor, [...new Set(chunks.filter((c) => c.actors.includes(actor)).map((c) => c.name))]]),
  ) as Record<DimeActor, string[]>;
  return { size: message.length, chunks, byActor, consistent: chunks.every((c) => c.consistent) };
}
