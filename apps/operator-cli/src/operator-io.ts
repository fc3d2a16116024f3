// File and stdout I/O of the operator CLI: read failures become one-line OperatorInputErrors.
import { accessSync, constants, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { OperatorInputError } from './operator-cli.error';

function unreadable(path: string, what: string, err: unknown): OperatorInputError {
  const code = (err as NodeJS.ErrnoException).code;
  const reason = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : code === 'EACCES' ? 'permission denied' : (code ?? 'unreadable');
  return new OperatorInputError(`cannot read ${what} "${path}": ${reason}`);
}

export function readInput(path: string, what: string): Buffer {
  try {
    return readFileSync(path === '-' ? 0 : path);
  } catch (err) {
    throw unreadable(path, what, err);
  }
}

/** The refusal readInput would give, without reading the file (for files read piece by piece). */
export function checkReadable(path: string, what: string): void {
  try {
    accessSync(path, constants.R_OK);
    if (statSync(path).isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
  } catch (err) {
    throw unreadable(path, what, err);
  }
}

/** Creates `path` (0600), never over an existing file; `shown` names it in the refusal (default path). */
export function createNewFile(path: string, shown = path): number {
  try {
    return openSync(path, 'wx', 0o600);
  } catch (err) {
    throw new OperatorInputError(`cannot write "${shown}": ${(err as NodeJS.ErrnoException).code ?? 'unwritable'}`);
  }
}

export function writeOut(text: string): void {
  const buf = Buffer.from(text, 'utf8');
  let off = 0;
  while (off < buf.length) {
    try {
      off += writeSync(1, buf, off, buf.length - off);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
    }
  }
}
