// Structured JSON logs (pino). Every line about a message carries its queue id: use
// `logger.child({ queueId })` as soon as a message has one.
import pino, { type Logger } from 'pino';

export type GatewayLogger = Logger;

export function createLogger(options: { level?: string; name?: string } = {}): GatewayLogger {
  return pino({
    name: options.name ?? 'gateway',
    level: options.level ?? 'info',
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: ['pin', '*.pin', 'password', '*.password', 'key', '*.key'], censor: '[REDACTED]' },
  });
}
