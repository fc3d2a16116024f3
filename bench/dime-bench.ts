// libs/dime throughput: seal + origin-sign and open + verify, for 10 KB and 1 MB messages, next to
// the cost of the raw primitives the same message needs (ECDH per actor, Ed25519 signs/verifies,
// AES-256-CBC over the same bytes, SHA-512 of the chunks for the tree signature), measured in the
// same run with the fastest implementations here (libsecp256k1 binding, node:crypto/OpenSSL).
// The ratio primitive-time / library-time says how close the library is to the limit.
//   npm run bench:dime            (writes bench/results/dime-bench.json)
import { createCipheriv, createDecipheriv, hash, randomBytes, sign as edSign, verify as edVerify, createPrivateKey, createPublicKey } from 'node:crypto';
import * as secp from 'secp256k1';
import {
  ChunkType,
  InMemoryKeyAgreement,
  InMemorySigner,
  openMessage,
  parseMessageFrame,
  sealMessage,
  signOrigin,
  splitRfc5322,
  type MessageChunkFrame,
  type SealInput,
} from '@lib/dime';
import { printTable, timeInterleaved, writeResults } from './bench-util';

const SIZES = [
  { name: '10 KB', bytes: 10 * 1024, perRound: 40 },
  { name: '1 MB', bytes: 1024 * 1024, perRound: 3 },
];

// Slot actors per chunk type (DIGEST §6.1): which keyslots exist, to count keyslot work.
const SLOT_ACTORS: Record<number, readonly string[]> = {
  [ChunkType.origin]: ['author', 'origin', 'recipient'],
  [ChunkType.destination]: ['author', 'destination', 'recipient'],
  [ChunkType.commonHeaders]: ['author', 'recipient'],
  [ChunkType.otherHeaders]: ['author', 'recipient'],
  [ChunkType.display]: ['author', 'recipient'],
  [ChunkType.attachment]: ['author', 'recipient'],
  [ChunkType.authorTreeSig]: ['author', 'origin', 'recipient'],
  [ChunkType.authorFullSig]: ['author', 'origin', 'recipient'],
  [ChunkType.originMetaBounceSig]: ['author', 'origin', 'destination', 'recipient'],
  [ChunkType.originDisplayBounceSig]: ['author', 'origin', 'destination', 'recipient'],
  [ChunkType.originFullSig]: ['author', 'origin', 'destination', 'recipient'],
};
const STANDARD = new Set<number>([ChunkType.origin, ChunkType.destination, ChunkType.commonHeaders, ChunkType.otherHeaders, ChunkType.display, ChunkType.attachment]);

function makeEml(size: number): Buffer {
  const head = [
    'From: Alice <alice@origin.example>',
    'To: Bob <bob@destination.example>',
    'Subject: benchmark message',
    'Date: Mon, 01 Jan 2024 00:00:00 +0000',
    'Message-ID: <bench@origin.example>',
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=us-ascii',
    '',
    '',
  ].join('\r\n');
  const lines: string[] = [];
  let len = head.length;
  while (len < size) {
    const l = randomBytes(57).toString('base64');
    lines.push(l);
    len += l.length + 2;
  }
  return Buffer.from(head + lines.join('\r\n') + '\r\n');
}

interface Party {
  signer?: InMemorySigner;
  seed: Buffer;
  keys: InMemoryKeyAgreement;
  privateKey: Buffer;
}

function party(): Party {
  let privateKey: Buffer;
  do privateKey = randomBytes(32);
  while (!secp.privateKeyVerify(privateKey));
  const seed = randomBytes(32);
  return { seed, signer: new InMemorySigner(seed), keys: new InMemoryKeyAgreement(privateKey), privateKey };
}

const ED_PKCS8 = Buffer.from('302e020100300506032b657004220420', 'hex');

/** The raw primitive work of one message, replayed on buffers of the message's exact sizes. */
function primitivePlans(frame: { chunks: MessageChunkFrame[] }, authorSeed: Buffer, originSeed: Buffer, peers: Buffer[]) {
  const edKey = createPrivateKey({ key: Buffer.concat([ED_PKCS8, authorSeed]), format: 'der', type: 'pkcs8' });
  const orgKey = createPrivateKey({ key: Buffer.concat([ED_PKCS8, originSeed]), format: 'der', type: 'pkcs8' });
  const edPub = createPublicKey(edKey);
  const orgPub = createPublicKey(orgKey);
  const key = randomBytes(32);
  const iv = randomBytes(16);
  const ecdhOut = Buffer.alloc(32);
  const ecdhOpt = { hashfn: (x: Uint8Array) => x };
  const ephemeral = randomBytes(32);
  const aes = (decrypt: boolean, data: Buffer) => {
    const c = decrypt ? createDecipheriv('aes-256-cbc', key, iv) : createCipheriv('aes-256-cbc', key, iv);
    c.setAutoPadding(false);
    c.update(data);
    c.final();
  };
  const chunks = frame.chunks;
  const payloads = chunks.map((c) => Buffer.from(c.payload));
  const serialized = chunks.map((c) => Buffer.alloc(c.length));
  const slot = Buffer.alloc(64);
  const ecb = (decrypt: boolean, data: Buffer) => {
    const c = decrypt ? createDecipheriv('aes-256-ecb', key, null) : createCipheriv('aes-256-ecb', key, null);
    c.setAutoPadding(false);
    c.update(data);
    c.final();
  };
  // Keyslots: the minimum AES work is one pass per actor over all of that actor's 64-byte slots.
  const slotsPerActor = ['author', 'origin', 'destination', 'recipient'].map((actor) =>
    Buffer.alloc(64 * chunks.filter((c) => SLOT_ACTORS[c.type]?.includes(actor)).length),
  );
  const recipientSlots = slotsPerActor[3]!;
  const totalUpTo = (type: number) => chunks.filter((c) => c.type < type).reduce((n, c) => n + c.length, 0);
  const fullInput = Buffer.alloc(totalUpTo(ChunkType.authorFullSig));
  const treeInput = Buffer.alloc(64 * (chunks.filter((c) => c.type < ChunkType.authorTreeSig).length + 1));
  const meta = Buffer.alloc(totalUpTo(ChunkType.display));
  const display = Buffer.alloc(totalUpTo(ChunkType.authorTreeSig));
  const originFull = Buffer.alloc(totalUpTo(ChunkType.originFullSig));
  const sig = edSign(null, Buffer.alloc(1), edKey);
  const randomTotal = chunks.reduce((n, c) => n + 48 + 16 * (SLOT_ACTORS[c.type]?.length ?? 0), 0);

  const seal = () => {
    secp.publicKeyCreate(ephemeral, true);
    for (const p of peers) hash('sha512', secp.ecdh(p, ephemeral, ecdhOpt, ecdhOut), 'buffer');
    randomBytes(randomTotal);
    for (let i = 0; i < chunks.length; i++) {
      const c = chunks[i]!;
      if (c.type === ChunkType.ephemeral) continue;
      if (STANDARD.has(c.type)) edSign(null, payloads[i]!.subarray(64), edKey);
      aes(false, payloads[i]!);
      if (c.type < ChunkType.authorTreeSig) hash('sha512', serialized[i]!, 'buffer');
    }
    for (const slots of slotsPerActor) ecb(false, slots);
    edSign(null, treeInput, edKey);
    edSign(null, fullInput, edKey);
  };
  const originSignPrimitive = () => {
    hash('sha512', secp.ecdh(peers[1]!, ephemeral, ecdhOpt, ecdhOut), 'buffer');
    for (const input of [meta, display, originFull]) {
      aes(true, slot);
      edSign(null, input, orgKey);
      aes(false, sig);
    }
  };
  const open = () => {
    hash('sha512', secp.ecdh(peers[3]!, ephemeral, ecdhOpt, ecdhOut), 'buffer');
    ecb(true, recipientSlots);
    for (let i = 0; i < chunks.length; i++) {
      const c = chunks[i]!;
      if (c.type === ChunkType.ephemeral) continue;
      aes(true, payloads[i]!);
      if (STANDARD.has(c.type)) edVerify(null, payloads[i]!.subarray(64), edPub, sig);
      if (c.type < ChunkType.authorTreeSig) hash('sha512', serialized[i]!, 'buffer');
    }
    edVerify(null, treeInput, edPub, sig);
    edVerify(null, fullInput, edPub, sig);
    for (const input of [meta, display, originFull]) edVerify(null, input, orgPub, sig);
  };
  return { seal, originSign: originSignPrimitive, open };
}

async function main(): Promise<void> {
  const author = party();
  const origin = party();
  const destination = party();
  const recipient = party();
  const fp = 'A'.repeat(86);
  const results: Record<string, unknown>[] = [];

  for (const size of SIZES) {
    const content = splitRfc5322(makeEml(size.bytes));
    const input: SealInput = {
      author: { address: 'alice@origin.example', signetFingerprint: fp, encryptionKey: author.keys.publicKey, signer: author.signer! },
      origin: { domain: 'origin.example', signetFingerprint: fp, encryptionKey: origin.keys.publicKey },
      destination: { domain: 'destination.example', signetFingerprint: fp, encryptionKey: destination.keys.publicKey },
      recipient: { address: 'bob@destination.example', signetFingerprint: fp, encryptionKey: recipient.keys.publicKey },
      commonHeaders: content.commonHeaders,
      otherHeaders: content.otherHeaders,
      display: content.display,
      attachments: content.attachments,
    };
    const originSigner = { keys: origin.keys, signer: origin.signer! };
    const sealed = await signOrigin(await sealMessage(input), originSigner);
    const openOptions = {
      actor: 'recipient' as const,
      keys: recipient.keys,
      authorSigningKey: author.signer!.publicKey,
      originSigningKey: origin.signer!.publicKey,
    };
    await openMessage(sealed, openOptions); // sanity: strict open succeeds

    const plan = primitivePlans(
      parseMessageFrame(sealed),
      author.seed,
      origin.seed,
      [author, origin, destination, recipient].map((p) => Buffer.from(p.keys.publicKey)),
    );
    const opts = { perRound: size.perRound, rounds: 12 };
    const [libSeal, primSeal] = await timeInterleaved(
      async () => signOrigin(await sealMessage(input), originSigner),
      () => {
        plan.seal();
        plan.originSign();
      },
      opts,
    );
    const [libOpen, primOpen] = await timeInterleaved(() => openMessage(sealed, openOptions), () => plan.open(), opts);
    for (const [op, lib, prim] of [
      ['seal + origin-sign', libSeal, primSeal],
      ['open + verify (recipient)', libOpen, primOpen],
    ] as const) {
      results.push({
        size: size.name,
        messageBytes: sealed.length,
        operation: op,
        libraryMsgPerSec: lib.perSecond,
        libraryMBPerSec: (lib.perSecond * sealed.length) / 2 ** 20,
        libraryMeanUs: lib.meanUs,
        primitiveMsgPerSec: prim.perSecond,
        primitiveMeanUs: prim.meanUs,
        ratioOfLimit: prim.meanUs / lib.meanUs,
      });
    }
  }

  printTable(
    'libs/dime vs the raw primitive cost of the same messages (same run)',
    ['size', 'operation', 'msg bytes', 'lib msg/s', 'lib MB/s', 'primitives msg/s', 'lib / limit'],
    results.map((r) => [
      r.size as string,
      r.operation as string,
      r.messageBytes as number,
      r.libraryMsgPerSec as number,
      r.libraryMBPerSec as number,
      r.primitiveMsgPerSec as number,
      `${((r.ratioOfLimit as number) * 100).toFixed(0)}%`,
    ]),
  );
  console.log(`\nwrote ${writeResults('dime-bench', { results })}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
