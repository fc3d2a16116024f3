// Test harness: the libdime reference vectors in ../shared/dime/vectors (read in place, never written).
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const VECTORS_DIR = process.env.DIME_VECTORS_DIR ?? resolve(__dirname, '../../shared/dime/vectors');

export function vectorPath(name: string): string {
  return join(VECTORS_DIR, name);
}

export function readVector(name: string): Buffer {
  return readFileSync(vectorPath(name));
}

export function readVectorText(name: string): string {
  return readFileSync(vectorPath(name), 'utf8');
}

let cache: Record<string, string> | undefined;

/** `vectors.txt` as a map: key (e.g. "user-author.ed25519.seed") -> value. */
export function vectorValues(): Record<string, string> {
  cache ??= Object.fromEntries(
    readVectorText('vectors.txt')
      .split('\n')
      .filter((line) => line.includes(' = '))
      .map((line) => {
        const i = line.indexOf(' = ');
        return [line.slice(0, i), line.slice(i + 3)];
      }),
  );
  return cache;
}

export function vectorValue(key: string): string {
  const v = vectorValues()[key];
  if (v === undefined) throw new Error(`vectors.txt has no "${key}"`);
  return v;
}

export function vectorHex(key: string): Buffer {
  return Buffer.from(vectorValue(key), 'hex');
}
