// `npm start`: loads the configuration, opens the embedded store, makes sure a key exists, starts the task
// workers and the HTTP server, and shuts both down cleanly on SIGINT/SIGTERM.
import { pino } from 'pino';
import { loadConfig } from './config.js';
import { buildApp } from './server/app.js';
import { createServices } from './server/services.js';
import { SCOPES } from './accounts/keys.js';

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = pino({ level: config.logLevel });
  const services = await createServices(config, logger);
  const app = await buildApp(services, { logger });

  if (!config.apiKey && services.keys.count() === 0) {
    const { token } = services.keys.create('default', [...SCOPES], config.defaultCredits);
    // Printed once, on purpose to stdout rather than the JSON log, so an operator can copy it.
    process.stdout.write(
      `\nNo API key existed, so one was created with all scopes. Keep it; it is not shown again:\n\n  ${token}\n\n`,
    );
  }

  services.tmp.startSweeping();
  await services.startWorkers();
  await app.listen({ port: config.port, host: config.host });
  app.log.info({ publicUrl: config.publicUrl, dataDir: config.dataDir }, 'Atelier is ready');

  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    app.log.info({ signal }, 'shutting down');
    const force = setTimeout(() => process.exit(1), 30_000);
    force.unref();
    await app.close();
    await services.close();
    process.exit(0);
  };
  // A promise nobody awaited must not take the server down with it; it is a bug to log and fix, not a crash.
  process.on('unhandledRejection', (reason) => app.log.error({ err: reason }, 'unhandled promise rejection'));
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((err) => {
  process.stderr.write(`Atelier failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
