/**
 * The plugin chain (issue #2): plugins in registration order, a lookup table
 * by envelope type built as types are first seen, the feature gate, and
 * isolation — a plugin that throws costs its client one `error` reply and
 * nothing else.
 */
import type { Logger } from 'pino';
import type { Envelope } from './envelope.js';
import { isProtocolError, PluginError, ProtocolError } from './errors.js';
import type { FeatureGate } from './feature-gate.js';
import type { BroadcastOptions, ClientHandle, MessageProcessor, PluginApi, PluginContext } from './plugin.js';
import type { PerformanceMonitor } from '../services/perf-monitor/index.js';

/** Handles what no plugin claims (the core's `hello`, `ping`, `pong`); throws `unknown_type` otherwise. */
export type FallbackHandler = (client: ClientHandle, envelope: Envelope) => void;

/** Most distinct types remembered in the lookup table; past it they are looked up each time (clients choose types). */
const MAX_CACHED_TYPES = 1024;

/** PluginContext for one envelope: the shared api plus the sender. */
class MessageContext implements PluginContext {
  constructor(
    private readonly api: PluginApi,
    readonly client: ClientHandle,
  ) {}
  get rooms() { return this.api.rooms; }
  get config() { return this.api.config; }
  get logger() { return this.api.logger; }
  get metrics() { return this.api.metrics; }
  get gate() { return this.api.gate; }
  reply(envelope: Envelope): void { this.api.sendTo(this.client, envelope); }
  sendTo(client: ClientHandle, envelope: Envelope): void { this.api.sendTo(client, envelope); }
  broadcast(room: string, envelope: Envelope, options?: BroadcastOptions): number { return this.api.broadcast(room, envelope, options); }
  sendError(client: ClientHandle, code: Parameters<PluginApi['sendError']>[1], message: string, ref?: string): void {
    this.api.sendError(client, code, message, ref);
  }
}

/**
 * Checks a plugin list: every entry has a name, canHandle and process; names
 * are unique; dependencies are registered earlier.
 * @throws PluginError naming the plugin
 */
export function validatePlugins(plugins: readonly MessageProcessor[]): void {
  const seen = new Set<string>();
  for (const p of plugins) {
    const name = typeof p?.name === 'string' && p.name ? p.name : '<unnamed>';
    if (name === '<unnamed>') throw new PluginError(name, 'a plugin needs a non-empty string name');
    if (typeof p.canHandle !== 'function' || typeof p.process !== 'function') {
      throw new PluginError(name, 'a plugin needs canHandle(type) and process(ctx, envelope) functions');
    }
    if (seen.has(name)) throw new PluginError(name, 'registered twice');
    for (const dep of p.dependencies ?? []) {
      if (!seen.has(dep)) throw new PluginError(name, `depends on ${dep}, which is not registered before it`);
    }
    seen.add(name);
  }
}

/** Routes envelopes to plugins. */
export class Pipeline {
  private readonly table = new Map<string, MessageProcessor | null>();

  /**
   * @param plugins in order; validated here
   * @throws PluginError from validatePlugins
   */
  constructor(
    readonly plugins: readonly MessageProcessor[],
    private readonly api: PluginApi,
    private readonly fallback: FallbackHandler,
    private readonly gate: FeatureGate,
    private readonly monitor: PerformanceMonitor,
    private readonly logger: Logger,
  ) {
    validatePlugins(plugins);
  }

  private lookup(type: string): MessageProcessor | null {
    const hit = this.table.get(type);
    if (hit !== undefined) return hit;
    const found = this.plugins.find((p) => {
      try {
        return p.canHandle(type) === true;
      } catch (err) {
        this.logger.error({ err, plugin: p.name, type }, 'canHandle threw; treating as false');
        return false;
      }
    }) ?? null;
    if (this.table.size < MAX_CACHED_TYPES) this.table.set(type, found);
    return found;
  }

  /**
   * Handles one envelope from `client`.
   * @returns a promise when the plugin is asynchronous
   * @throws ProtocolError for the client (directly, or as the promise's rejection)
   */
  handle(client: ClientHandle, envelope: Envelope): void | Promise<void> {
    const plugin = this.lookup(envelope.type);
    if (!plugin) return this.fallback(client, envelope);
    if (plugin.feature !== undefined && !this.gate.isEnabled(plugin.feature, client.nick)) {
      throw new ProtocolError('feature_disabled', `feature ${plugin.feature} is not enabled for ${client.nick}`);
    }
    let result: void | Promise<void>;
    try {
      result = plugin.process(new MessageContext(this.api, client), envelope);
    } catch (err) {
      throw this.isolate(plugin, envelope, err);
    }
    if (result && typeof (result as Promise<void>).then === 'function') {
      return (result as Promise<void>).then(undefined, (err: unknown) => {
        throw this.isolate(plugin, envelope, err);
      });
    }
  }

  /** A ProtocolError passes through; anything else is logged, counted, and becomes `internal_error`. */
  private isolate(plugin: MessageProcessor, envelope: Envelope, err: unknown): ProtocolError {
    if (isProtocolError(err)) return err;
    this.monitor.recordPluginError(plugin.name);
    this.logger.error({ err, plugin: plugin.name, type: envelope.type }, 'plugin threw');
    return new ProtocolError('internal_error', `plugin ${plugin.name} failed to handle ${envelope.type}`, { cause: err });
  }

  /** Runs every plugin's init in order. */
  async init(): Promise<void> {
    for (const p of this.plugins) await p.init?.(this.api);
  }

  /** Tells every plugin of a new client; a throwing hook is logged and skipped. */
  connected(client: ClientHandle): void {
    for (const p of this.plugins) this.hook(p, 'onConnect', client);
  }

  /**
   * Tells every plugin a client left, in reverse registration order (a
   * plugin sees the client before the plugins it depends on clean up, e.g.
   * still in its rooms); a throwing hook is logged and skipped.
   */
  disconnected(client: ClientHandle): void {
    for (let i = this.plugins.length - 1; i >= 0; i--) this.hook(this.plugins[i]!, 'onDisconnect', client);
  }

  private hook(p: MessageProcessor, name: 'onConnect' | 'onDisconnect', client: ClientHandle): void {
    try {
      p[name]?.(this.api, client);
    } catch (err) {
      this.monitor.recordPluginError(p.name);
      this.logger.error({ err, plugin: p.name, hook: name }, 'plugin hook threw');
    }
  }

  /** Closes plugins in reverse order; errors are logged. */
  async close(): Promise<void> {
    for (const p of [...this.plugins].reverse()) {
      try {
        await p.close?.();
      } catch (err) {
        this.logger.error({ err, plugin: p.name }, 'plugin close failed');
      }
    }
  }
}
