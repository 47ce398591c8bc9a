/**
 * Public API of tcpserver: createServer and the types a plugin author needs.
 */
import type { Logger } from 'pino';
import { configFrom, type Config, type ConfigInput } from './core/config.js';
import { createLogger } from './core/logger.js';
import type { MessageProcessor } from './core/plugin.js';
import { ChatServer } from './core/server.js';
import { builtinPlugins, loadPlugins } from './plugins/index.js';

export { ChatServer } from './core/server.js';
export { configFrom, loadConfig, CONFIG_KEYS, type Config, type ConfigInput } from './core/config.js';
export { ProtocolError, ConfigError, PluginError, WIRE_ERRORS, type WireErrorCode } from './core/errors.js';
export { FeatureGate } from './core/feature-gate.js';
export type { Envelope } from './core/envelope.js';
export type {
  BroadcastOptions,
  ClientHandle,
  MessageProcessor,
  PluginApi,
  PluginContext,
  PluginMetrics,
  RoomsApi,
} from './core/plugin.js';
export type { StatsSnapshot } from './services/perf-monitor/index.js';

/** Options of createServer. */
export interface CreateServerOptions {
  /** Plugins after the built-in ones (and after those named by config `plugins`). */
  plugins?: MessageProcessor[];
  /** Replace the built-in plugins entirely (default: chat rooms + voice). */
  builtins?: MessageProcessor[];
  /** A logger; default: pino from `log_level` / `log_file`. */
  logger?: Logger;
}

/**
 * Builds a server (not yet listening: call `listen()`).
 * @param config a Config, or raw values validated here
 * @throws ConfigError for an invalid value; PluginError for a bad plugin list
 */
export async function createServer(config: Config | ConfigInput, options: CreateServerOptions = {}): Promise<ChatServer> {
  const cfg = Object.isFrozen(config) ? (config as Config) : configFrom(config as ConfigInput);
  const plugins = [...(options.builtins ?? builtinPlugins()), ...(await loadPlugins(cfg.plugins)), ...(options.plugins ?? [])];
  return new ChatServer(cfg, { plugins, logger: options.logger ?? createLogger(cfg) });
}
