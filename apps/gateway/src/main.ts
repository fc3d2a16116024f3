// The gateway process: validated config (every bad key named, exit 78), then the Nest application
// context (gateway.module.ts) in the foreground. SIGTERM/SIGINT stop it gracefully. Must be started
// with the OpenSSL config of the HSM engine (node --openssl-config=...; appliance/start.sh does it),
// or boot fails saying so: STARTTLS uses the HSM-held TLS key.
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { gatewayConfigFromEnv, type GatewayConfig } from './gateway.config';
import { GatewayModule } from './gateway.module';
import { createLogger } from './observability/logger';

const EX_CONFIG = 78; // sysexits.h: configuration error

async function main(): Promise<void> {
  let config: GatewayConfig;
  try {
    config = gatewayConfigFromEnv(process.env);
  } catch (error) {
    process.stderr.write(`dime-gateway: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(EX_CONFIG);
  }
  const logger = createLogger({ level: config.logLevel });
  try {
    const app = await NestFactory.createApplicationContext(GatewayModule.forRoot(config, logger), { logger: ['error', 'warn'], abortOnError: false });
    // process.exit (not re-raising the signal) so that pino's asynchronous stdout is flushed on exit
    app.enableShutdownHooks(['SIGTERM', 'SIGINT'], { useProcessExit: true });
  } catch (error) {
    logger.fatal({ err: error instanceof Error ? error.message : String(error) }, 'gateway failed to start');
    // pino writes asynchronously to stdout: give it a moment before leaving
    setTimeout(() => process.exit(1), 100);
  }
}

void main();
