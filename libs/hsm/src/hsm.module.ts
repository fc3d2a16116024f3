// Nest wiring for libs/hsm: HsmModule.forRoot(config) provides one HsmKeystore per process
// (connected at bootstrap, closed at shutdown) and the readiness check built on it.
import { Inject, Injectable, Module, type DynamicModule, type OnApplicationShutdown } from '@nestjs/common';
import type { HsmConfig } from './hsm.config';
import { HsmHealthCheck } from './hsm-health';
import { HsmKeystore } from './hsm-keystore';

export const HSM_CONFIG = Symbol('HSM_CONFIG');

@Injectable()
class HsmKeystoreCloser implements OnApplicationShutdown {
  constructor(@Inject(HsmKeystore) private readonly keystore: HsmKeystore) {}

  onApplicationShutdown(): void {
    this.keystore.close();
  }
}

export interface HsmModuleOptions {
  /** A private key that readiness requires to be visible (e.g. the current org POK label). */
  readonly probeLabel?: string;
}

@Module({})
export class HsmModule {
  static forRoot(config: HsmConfig, options: HsmModuleOptions = {}): DynamicModule {
    return {
      module: HsmModule,
      global: true,
      providers: [
        { provide: HSM_CONFIG, useValue: config },
        { provide: HsmKeystore, useFactory: (c: HsmConfig) => HsmKeystore.open(c), inject: [HSM_CONFIG] },
        {
          provide: HsmHealthCheck,
          useFactory: (keystore: HsmKeystore) => new HsmHealthCheck(keystore, options.probeLabel ? { probeLabel: options.probeLabel } : {}),
          inject: [HsmKeystore],
        },
        HsmKeystoreCloser,
      ],
      exports: [HSM_CONFIG, HsmKeystore, HsmHealthCheck],
    };
  }
}
