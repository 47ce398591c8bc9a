/**
 * `npm run tcpserver`: loads `.env` + process env, starts the server, drains
 * on SIGINT / SIGTERM. Exit codes: 0 after a clean drain, 1 on a start-up
 * failure, 2 on invalid configuration.
 */
import { loadConfig, type Config } from './core/config.js';
import { ConfigError } from './core/errors.js';
import { createServer } from './index.js';

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`tcpserver: invalid configuration: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const server = await createServer(config);
  const { host, port, ws } = await server.listen();
  process.stdout.write(`tcpserver listening on ${host}:${port} — try: nc ${host} ${port}   or   curl ${host}:${port}/stats\n`);
  if (ws) process.stdout.write(`tcpserver WebSocket on ws://${ws.host}:${ws.port}/\n`);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      server.logger.warn({ signal }, 'second signal, exiting now');
      process.exit(1);
    }
    stopping = true;
    server.logger.info({ signal }, 'shutting down');
    server.close().then(
      () => process.exit(0),
      (err: unknown) => {
        server.logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

main().catch((err: unknown) => {
  process.stderr.write(`tcpserver: failed to start: ${(err as Error)?.stack ?? err}\n`);
  process.exit(1);
});
