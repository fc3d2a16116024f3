// `submission-passwd USER`: reads a password from stdin and prints `USER:scrypt$...` for the
// gateway's SUBMISSION_AUTH_FILE (apps/gateway/src/smtp/submission-auth.ts checks it).
import { hashPassword } from '../../apps/gateway/src/smtp/submission-auth';

async function readPassword(): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write('password: ');
  process.stdin.setEncoding('utf8');
  let text = '';
  for await (const chunk of process.stdin) {
    text += chunk as string;
    if (text.includes('\n')) break;
  }
  return text.split(/\r?\n/)[0] ?? '';
}

async function main(): Promise<void> {
  const user = process.argv[2];
  if (!user || process.argv.length > 3 || /[:\s]/.test(user)) {
    process.stderr.write('usage: submission-passwd USER  (password on stdin; USER without ":" or spaces)\n');
    process.exit(2);
  }
  const password = await readPassword();
  if (password === '') {
    process.stderr.write('submission-passwd: empty password\n');
    process.exit(2);
  }
  process.stdout.write(`${user}:${await hashPassword(password)}\n`);
}

void main();
