// HSM config from an environment map: reads the PIN file, checks paths, freezes, redacts the PIN.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { DEFAULT_HSM_MODULE, hsmConfigFromEnv } from './hsm.config';

describe('hsmConfigFromEnv', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hsm-config-'));
  const pinFile = join(dir, 'pin');
  writeFileSync(pinFile, '123456\n');

  it('reads the PIN from the file, applies defaults, freezes and redacts', () => {
    const config = hsmConfigFromEnv({ HSM_PIN_FILE: pinFile, HSM_TOKEN_LABEL: 'gw' });
    expect(config).toMatchObject({ modulePath: DEFAULT_HSM_MODULE, tokenLabel: 'gw', sessions: 4, reinitializeOnLoss: false });
    expect(config.pin.reveal()).toBe('123456');
    expect(Object.isFrozen(config)).toBe(true);
    expect(JSON.stringify(config)).not.toContain('123456');
    expect(inspect(config)).not.toContain('123456');
  });

  it('names every bad key at once', () => {
    expect(() => hsmConfigFromEnv({ HSM_MODULE: 'relative.so', HSM_SESSIONS: '0', HSM_REINITIALIZE_ON_LOSS: 'yes' })).toThrow(
      expect.objectContaining({ code: 'CONFIG_INVALID', message: expect.stringMatching(/HSM_MODULE.*HSM_PIN_FILE or HSM_PIN.*HSM_SESSIONS.*HSM_REINITIALIZE_ON_LOSS/) }),
    );
  });
});

