// The operator CLI's settings: by default the local `npm start` state, i.e. the same keys and
// precedence as appliance/start.sh: the process environment, then .local/gateway.env, then
// .local/appliance.env (HSM token), then the gateway's defaults. process.env is read only here.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export type OperatorEnv = Readonly<Record<string, string | undefined>>;

/** The project directory holding .local/ (DIME_HOME, else the nearest package.json above this file). */
export function operatorHome(env: OperatorEnv = process.env): string {
  if (env['DIME_HOME']) return env['DIME_HOME'];
  let dir = __dirname;
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) return process.cwd();
    dir = up;
  }
  return dir;
}

/** KEY=VALUE lines as start.sh reads them (comments and malformed lines skipped). */
export function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    if (line === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    const key = eq > 0 ? line.slice(0, eq) : '';
    if (!/^[A-Z_][A-Z0-9_]*$/.test(key)) continue;
    out[key] = line.slice(eq + 1);
  }
  return out;
}

function readEnvFile(path: string): Record<string, string> {
  try {
    return parseEnvFile(readFileSync(path, 'utf8'));
  } catch {
    return {};
  }
}

/** The merged environment of the local state (a frozen copy; process.env stays untouched). */
export function loadOperatorEnv(env: OperatorEnv = process.env): OperatorEnv {
  const home = operatorHome(env);
  return Object.freeze({
    ...readEnvFile(join(home, '.local', 'appliance.env')),
    ...readEnvFile(join(home, '.local', 'gateway.env')),
    ...Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined)),
  });
}

/**
 * SoftHSM reads SOFTHSM2_CONF with getenv() when the module initialises, so the token chosen by
 * the merged environment must be in the real environment before the keystore opens.
 */
export function exportSoftHsmConf(env: OperatorEnv): void {
  const conf = env['SOFTHSM2_CONF'];
  if (conf) process.env['SOFTHSM2_CONF'] = conf;
}
