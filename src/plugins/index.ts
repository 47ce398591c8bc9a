/**
 * The built-in plugins, in chain order, and loading of third-party ones
 * (config key `plugins`).
 */
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PluginError } from '../core/errors.js';
import type { MessageProcessor } from '../core/plugin.js';
import { ChatRoomPlugin } from './chat-room/index.js';
import { VoicePlugin } from './voice/index.js';

export { ChatRoomPlugin } from './chat-room/index.js';
export { VoicePlugin } from './voice/index.js';

/** Fresh instances of the built-in plugins: chat rooms, then voice coordination. */
export function builtinPlugins(): MessageProcessor[] {
  return [new ChatRoomPlugin(), new VoicePlugin()];
}

/**
 * Imports third-party plugin modules. A module's default export is either a
 * MessageProcessor or a factory `() => MessageProcessor`.
 * @param specs module paths (relative to `cwd`) or package names
 * @throws PluginError when a module fails to import or exports no plugin
 */
export async function loadPlugins(specs: readonly string[], cwd = process.cwd()): Promise<MessageProcessor[]> {
  const out: MessageProcessor[] = [];
  for (const spec of specs) {
    const target = spec.startsWith('.') || isAbsolute(spec) ? pathToFileURL(resolve(cwd, spec)).href : spec;
    let mod: { default?: unknown };
    try {
      mod = (await import(target)) as { default?: unknown };
    } catch (err) {
      throw new PluginError(spec, 'failed to import', { cause: err });
    }
    const exported = mod.default;
    const plugin = typeof exported === 'function' ? (exported as () => unknown)() : exported;
    if (!plugin || typeof plugin !== 'object') throw new PluginError(spec, 'default export must be a plugin or a factory returning one');
    out.push(plugin as MessageProcessor);
  }
  return out;
}
