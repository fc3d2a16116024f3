// The canonical form of an audit entry: deterministic JSON (RFC 8785 / JCS restricted to
// integers): object keys sorted by UTF-16 code units, no whitespace, strings escaped as
// JSON.stringify does. Restricting values to what PostgreSQL jsonb returns unchanged (safe
// integers only, no NUL, no lone surrogates) makes the bytes identical when recorded, when read
// back from the database and when read from an export. docs/audit.md has the definition.
import { AuditError } from './audit.error';
import type { AuditEntry, AuditJson } from './audit.types';

const MAX_DEPTH = 32;

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** A string the trail can hold; false for NUL and lone surrogates (jsonb and text refuse them). */
export function isAuditString(value: string): boolean {
  return !value.includes('\u0000') && !LONE_SURROGATE.test(value);
}

function fail(path: string, why: string): never {
  throw new AuditError('INVALID_ENTRY', `${path}: ${why}`);
}

function str(value: string, path: string): string {
  if (!isAuditString(value)) fail(path, 'contains NUL or a lone surrogate');
  return JSON.stringify(value);
}

function write(value: unknown, path: string, depth: number): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isSafeInteger(value)) fail(path, `number ${value} is not a safe integer (floats are not allowed)`);
      return Object.is(value, -0) ? '0' : String(value);
    case 'string':
      return str(value, path);
    case 'object': {
      if (depth >= MAX_DEPTH) fail(path, `nested deeper than ${MAX_DEPTH}`);
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i++) out += (i === 0 ? '' : ',') + write(value[i], `${path}[${i}]`, depth + 1);
        return `${out}]`;
      }
      const proto = Object.getPrototypeOf(value) as unknown;
      if (proto !== Object.prototype && proto !== null) fail(path, 'is not a plain object');
      const keys = Object.keys(value).sort();
      let out = '{';
      for (let i = 0; i < keys.length; i++) {
        const key = keys[i] as string;
        out += `${i === 0 ? '' : ','}${str(key, `${path} key`)}:${write((value as Record<string, unknown>)[key], `${path}.${key}`, depth + 1)}`;
      }
      return `${out}}`;
    }
    default:
      return fail(path, `${typeof value} is not JSON`);
  }
}

/** Canonical JSON of a value; AuditError INVALID_ENTRY for anything outside AuditJson. */
export function canonicalJson(value: AuditJson): string {
  return write(value, '$', 0);
}

const nullable = (value: string | null, path: string): string => (value === null ? 'null' : str(value, path));

/**
 * The canonical form of one entry: canonicalJson of its nine fields. Written out field by field
 * (keys already in sorted order) because the verifier runs it once per entry.
 */
export function canonicalEntry(entry: AuditEntry): string {
  if (!Number.isSafeInteger(entry.seq) || entry.seq < 1) fail('seq', 'must be a positive safe integer');
  return (
    `{"action":${str(entry.action, 'action')},"actor":${str(entry.actor, 'actor')},"actorAddress":${nullable(entry.actorAddress, 'actorAddress')}` +
    `,"details":${write(entry.details, 'details', 0)},"objectId":${nullable(entry.objectId, 'objectId')},"objectType":${nullable(entry.objectType, 'objectType')}` +
    `,"outcome":${str(entry.outcome, 'outcome')},"seq":${entry.seq},"time":${str(entry.time, 'time')}}`
  );
}
