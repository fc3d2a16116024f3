// libs/config public API: what every process's *.config.ts shares (STYLE.md 4).
export { RedactedSecret } from './redacted-secret';
