// A secret configuration value (PIN, password) that never shows in logs, JSON or util.inspect;
// code that needs the value asks for it explicitly with reveal().
import { inspect } from 'node:util';

export class RedactedSecret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  reveal(): string {
    return this.#value;
  }

  toString(): string {
    return '[REDACTED]';
  }

  toJSON(): string {
    return '[REDACTED]';
  }

  [inspect.custom](): string {
    return '[REDACTED]';
  }
}
