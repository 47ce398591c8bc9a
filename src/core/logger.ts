/**
 * The process logger: pino, to stdout and (when `log_file` is set) a file.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import pino, { type Logger } from 'pino';
import type { Config } from './config.js';

/**
 * Builds the logger from config keys `log_level` and `log_file`.
 * @throws Error when the log file's folder cannot be created
 */
export function createLogger(config: Pick<Config, 'log_level' | 'log_file'>): Logger {
  const streams: pino.StreamEntry[] = [{ level: config.log_level === 'silent' ? 'fatal' : config.log_level, stream: pino.destination(1) }];
  if (config.log_file) {
    mkdirSync(dirname(config.log_file), { recursive: true });
    streams.push({ level: config.log_level === 'silent' ? 'fatal' : config.log_level, stream: pino.destination({ dest: config.log_file, sync: false }) });
  }
  return pino({ level: config.log_level, base: { service: 'tcpserver' } }, pino.multistream(streams));
}
