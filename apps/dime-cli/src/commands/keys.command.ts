// `dime keys ...`: generate org/user key files (PEM) and show their public halves.
import { armorKeyFile, ed25519PublicFromSeed, generateKeyFile, readKeyFile, secp256k1PublicFromPrivate } from '@lib/dime';
import { noMorePositionals, parseArgs, positional } from '../cli-args';
import { CliUsageError } from '../cli.error';
import { printJson, readInputFile, writeStdout } from '../cli-io';

export function runKeysCommand(argv: readonly string[]): number {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'generate': {
      const args = parseArgs(rest, { flags: ['org', 'user'] });
      noMorePositionals(args, 0);
      const org = args.flags.has('org');
      if (org === args.flags.has('user')) throw new CliUsageError('keys generate needs exactly one of --org or --user');
      writeStdout(armorKeyFile(generateKeyFile(org ? 'org' : 'user')));
      return 0;
    }
    case 'public': {
      const args = parseArgs(rest, {});
      const file = positional(args, 0, 'key file');
      noMorePositionals(args, 1);
      const keys = readKeyFile(readInputFile(file, 'key file'));
      printJson({
        type: keys.type,
        signingKey: Buffer.from(ed25519PublicFromSeed(keys.signingSeed)).toString('base64').replace(/=+$/, ''),
        encryptionKey: Buffer.from(secp256k1PublicFromPrivate(keys.encryptionPrivateKey)).toString('hex'),
      });
      return 0;
    }
    default:
      throw new CliUsageError(sub === undefined ? 'keys needs a subcommand: generate, public' : `unknown keys subcommand "${sub}"`);
  }
}
