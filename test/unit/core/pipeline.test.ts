/**
 * Pipeline: plugin order, fallback, feature gate, isolation of plugin errors,
 * plugin list validation, hooks.
 */
import pino from 'pino';
import { describe, expect, it, vi } from 'vitest';
import { Pipeline, validatePlugins, type FallbackHandler } from '../../../src/core/pipeline.js';
import { PluginError, ProtocolError } from '../../../src/core/errors.js';
import { FeatureGate } from '../../../src/core/feature-gate.js';
import type { ClientHandle, MessageProcessor, PluginApi, PluginContext } from '../../../src/core/plugin.js';
import type { Envelope } from '../../../src/core/envelope.js';
import type { PerformanceMonitor } from '../../../src/services/perf-monitor/index.js';
import { configFrom } from '../../../src/core/config.js';

const logger = pino({ level: 'silent' });

function client(nick = 'alice', id = 1): ClientHandle {
  return { id, nick, session: `s${id}`, mode: 'json', echo: false, remoteAddress: '127.0.0.1', closing: false } as ClientHandle;
}

function fakeApi() {
  const sent: { to: ClientHandle; env: Envelope }[] = [];
  const api: PluginApi = {
    sendTo: (to, env) => void sent.push({ to, env }),
    broadcast: () => 0,
    sendError: () => {},
    rooms: {
      join: () => true,
      leave: () => true,
      isMember: () => false,
      members: () => new Set(),
      memberCount: () => 0,
      list: () => [][Symbol.iterator](),
    },
    config: configFrom({}),
    logger,
    metrics: { recordMessage: () => {} },
    gate: new FeatureGate(),
  };
  return { api, sent };
}

function fakeMonitor() {
  const pluginErrors: string[] = [];
  const monitor = {
    recordPluginError: vi.fn((name: string) => void pluginErrors.push(name)),
  } as unknown as PerformanceMonitor & { recordPluginError: ReturnType<typeof vi.fn> };
  return { monitor, pluginErrors };
}

/** A plugin claiming `types`, recording what it processed. */
function plugin(name: string, types: string[], process?: MessageProcessor['process'], extra: Partial<MessageProcessor> = {}) {
  const seen: string[] = [];
  const p: MessageProcessor = {
    name,
    canHandle: (t) => types.includes(t),
    process:
      process ??
      ((_ctx, env) => {
        seen.push(env.type);
      }),
    ...extra,
  };
  return { p, seen };
}

function build(plugins: MessageProcessor[], opts: { gate?: FeatureGate; fallback?: FallbackHandler } = {}) {
  const { api, sent } = fakeApi();
  const { monitor, pluginErrors } = fakeMonitor();
  const fallbackSeen: string[] = [];
  const fallback: FallbackHandler =
    opts.fallback ??
    ((_c, env) => {
      fallbackSeen.push(env.type);
    });
  const pipe = new Pipeline(plugins, api, fallback, opts.gate ?? new FeatureGate(), monitor, logger);
  return { pipe, api, sent, monitor, pluginErrors, fallbackSeen };
}

function caught(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}

describe('Pipeline.handle', () => {
  it('tries plugins in order; the first whose canHandle is true wins', () => {
    const a = plugin('a', ['x']);
    const b = plugin('b', ['x', 'y']);
    const c = plugin('c', ['y', 'z']);
    const { pipe, fallbackSeen } = build([a.p, b.p, c.p]);
    pipe.handle(client(), { type: 'x' });
    pipe.handle(client(), { type: 'y' });
    pipe.handle(client(), { type: 'z' });
    pipe.handle(client(), { type: 'x' });
    expect(a.seen).toEqual(['x', 'x']);
    expect(b.seen).toEqual(['y']);
    expect(c.seen).toEqual(['z']);
    expect(fallbackSeen).toEqual([]);
  });

  it('asks canHandle once per type (lookup table)', () => {
    const canHandle = vi.fn((t: string) => t === 'x');
    const { pipe } = build([{ name: 'a', canHandle, process: () => {} }]);
    for (let i = 0; i < 5; i++) pipe.handle(client(), { type: 'x' });
    for (let i = 0; i < 5; i++) pipe.handle(client(), { type: 'other' });
    expect(canHandle).toHaveBeenCalledTimes(2);
  });

  it('falls back to the core handler when no plugin claims the type', () => {
    const a = plugin('a', ['x']);
    const { pipe, fallbackSeen } = build([a.p]);
    pipe.handle(client(), { type: 'hello' });
    pipe.handle(client(), { type: 'ping' });
    expect(fallbackSeen).toEqual(['hello', 'ping']);
    expect(a.seen).toEqual([]);
  });

  it('lets a plugin override a core type', () => {
    const a = plugin('a', ['ping']);
    const { pipe, fallbackSeen } = build([a.p]);
    pipe.handle(client(), { type: 'ping' });
    expect(a.seen).toEqual(['ping']);
    expect(fallbackSeen).toEqual([]);
  });

  it('propagates the fallback throwing unknown_type', () => {
    const { pipe } = build([], {
      fallback: (_c, env) => {
        throw new ProtocolError('unknown_type', `no handler for ${env.type}`);
      },
    });
    const err = caught(() => pipe.handle(client(), { type: 'nope' }));
    expect(err).toBeInstanceOf(ProtocolError);
    expect((err as ProtocolError).code).toBe('unknown_type');
  });

  it('treats a throwing canHandle as false and goes on', () => {
    const bad: MessageProcessor = {
      name: 'bad',
      canHandle: () => {
        throw new Error('boom');
      },
      process: () => {},
    };
    const good = plugin('good', ['x']);
    const { pipe } = build([bad, good.p]);
    pipe.handle(client(), { type: 'x' });
    expect(good.seen).toEqual(['x']);
  });

  it('gives the plugin a context with the sender and a reply to it', () => {
    let ctxSeen: PluginContext | null = null;
    const a = plugin('a', ['x'], (ctx, env) => {
      ctxSeen = ctx;
      ctx.reply({ type: 'echo', of: env.type });
    });
    const { pipe, sent, api } = build([a.p]);
    const c = client('bob', 7);
    pipe.handle(c, { type: 'x' });
    expect(ctxSeen!.client).toBe(c);
    expect(ctxSeen!.config).toBe(api.config);
    expect(sent).toEqual([{ to: c, env: { type: 'echo', of: 'x' } }]);
  });

  it('answers feature_disabled when the gate is closed for the user, without calling the plugin', () => {
    const gate = new FeatureGate({ voice: { percent: 0, beta: ['insider'] } });
    const v = plugin('voice', ['start_voice'], undefined, { feature: 'voice' });
    const { pipe } = build([v.p], { gate });
    const err = caught(() => pipe.handle(client('outsider'), { type: 'start_voice' }));
    expect(err).toBeInstanceOf(ProtocolError);
    expect((err as ProtocolError).code).toBe('feature_disabled');
    expect((err as ProtocolError).fatal).toBe(false);
    expect(v.seen).toEqual([]);
    pipe.handle(client('insider'), { type: 'start_voice' });
    expect(v.seen).toEqual(['start_voice']);
    gate.setPercent('voice', 100);
    pipe.handle(client('outsider'), { type: 'start_voice' });
    expect(v.seen).toHaveLength(2);
  });

  it('turns a plugin throwing an Error into internal_error and records it', () => {
    const boom = new Error('boom');
    const a = plugin('crashy', ['x'], () => {
      throw boom;
    });
    const { pipe, monitor, pluginErrors } = build([a.p]);
    const err = caught(() => pipe.handle(client(), { type: 'x' })) as ProtocolError;
    expect(err).toBeInstanceOf(ProtocolError);
    expect(err.code).toBe('internal_error');
    expect(err.fatal).toBe(false);
    expect(err.cause).toBe(boom);
    expect(monitor.recordPluginError).toHaveBeenCalledWith('crashy');
    expect(pluginErrors).toEqual(['crashy']);
  });

  it('turns a non-Error throw into internal_error too', () => {
    const a = plugin('crashy', ['x'], () => {
      throw 'a string';
    });
    const { pipe, pluginErrors } = build([a.p]);
    expect((caught(() => pipe.handle(client(), { type: 'x' })) as ProtocolError).code).toBe('internal_error');
    expect(pluginErrors).toEqual(['crashy']);
  });

  it('passes a ProtocolError through unchanged and does not count it', () => {
    const original = new ProtocolError('not_in_room', 'join first');
    const a = plugin('a', ['x'], () => {
      throw original;
    });
    const { pipe, monitor } = build([a.p]);
    expect(caught(() => pipe.handle(client(), { type: 'x' }))).toBe(original);
    expect(monitor.recordPluginError).not.toHaveBeenCalled();
  });

  it('returns the promise of an async plugin', async () => {
    const a = plugin('a', ['x'], async () => {});
    const { pipe } = build([a.p]);
    const r = pipe.handle(client(), { type: 'x' });
    expect(r).toBeInstanceOf(Promise);
    await expect(r).resolves.toBeUndefined();
  });

  it('turns an async rejection with an Error into internal_error and records it', async () => {
    const a = plugin('slow', ['x'], async () => {
      await Promise.resolve();
      throw new TypeError('bad');
    });
    const { pipe, monitor } = build([a.p]);
    const r = pipe.handle(client(), { type: 'x' });
    await expect(r).rejects.toBeInstanceOf(ProtocolError);
    await expect(r).rejects.toMatchObject({ code: 'internal_error' });
    expect(monitor.recordPluginError).toHaveBeenCalledWith('slow');
  });

  it('passes an async ProtocolError rejection through unchanged', async () => {
    const original = new ProtocolError('forbidden', 'no');
    const a = plugin('a', ['x'], () => Promise.reject(original));
    const { pipe, monitor } = build([a.p]);
    await expect(pipe.handle(client(), { type: 'x' })).rejects.toBe(original);
    expect(monitor.recordPluginError).not.toHaveBeenCalled();
  });

  it('keeps working for other types and plugins after a plugin threw', () => {
    const a = plugin('crashy', ['x'], () => {
      throw new Error('boom');
    });
    const b = plugin('b', ['y']);
    const { pipe } = build([a.p, b.p]);
    caught(() => pipe.handle(client(), { type: 'x' }));
    pipe.handle(client(), { type: 'y' });
    expect(b.seen).toEqual(['y']);
  });
});

describe('validatePlugins', () => {
  const ok = (name: string, deps?: string[]): MessageProcessor => ({ name, dependencies: deps, canHandle: () => false, process: () => {} });

  it('accepts a valid list, dependencies registered earlier', () => {
    expect(() => validatePlugins([ok('a'), ok('b', ['a']), ok('c', ['a', 'b'])])).not.toThrow();
    expect(() => validatePlugins([])).not.toThrow();
  });

  function pluginError(list: unknown[]): PluginError {
    const err = caught(() => validatePlugins(list as MessageProcessor[]));
    expect(err).toBeInstanceOf(PluginError);
    expect((err as PluginError).code).toBe('ERR_PLUGIN');
    return err as PluginError;
  }

  it('rejects a duplicate name', () => {
    expect(pluginError([ok('a'), ok('b'), ok('a')]).plugin).toBe('a');
  });

  it('rejects a missing dependency, or one registered later', () => {
    expect(pluginError([ok('a', ['nope'])]).plugin).toBe('a');
    const e = pluginError([ok('b', ['a']), ok('a')]);
    expect(e.plugin).toBe('b');
    expect(e.message).toMatch(/a/);
  });

  it('rejects a missing or empty name', () => {
    pluginError([{ canHandle: () => false, process: () => {} }]);
    pluginError([{ name: '', canHandle: () => false, process: () => {} }]);
    pluginError([{ name: 5, canHandle: () => false, process: () => {} }]);
    pluginError([null]);
  });

  it('rejects missing canHandle or process functions', () => {
    expect(pluginError([{ name: 'x', process: () => {} }]).plugin).toBe('x');
    expect(pluginError([{ name: 'y', canHandle: () => true }]).plugin).toBe('y');
    expect(pluginError([{ name: 'z', canHandle: true, process: () => {} }]).plugin).toBe('z');
  });

  it('is applied by the Pipeline constructor', () => {
    expect(() => build([ok('a'), ok('a')])).toThrow(PluginError);
  });
});

describe('hooks, init and close', () => {
  it('runs every onConnect / onDisconnect even when one throws, and counts the throw', () => {
    const calls: string[] = [];
    const a: MessageProcessor = {
      name: 'a',
      canHandle: () => false,
      process: () => {},
      onConnect: () => {
        calls.push('a:connect');
        throw new Error('x');
      },
      onDisconnect: () => {
        calls.push('a:disconnect');
        throw new Error('y');
      },
    };
    const b: MessageProcessor = {
      name: 'b',
      canHandle: () => false,
      process: () => {},
      onConnect: (_api, c) => void calls.push(`b:connect:${c.nick}`),
      onDisconnect: (_api, c) => void calls.push(`b:disconnect:${c.nick}`),
    };
    const c: MessageProcessor = { name: 'c', canHandle: () => false, process: () => {} }; // no hooks
    const { pipe, pluginErrors } = build([a, b, c]);
    expect(() => pipe.connected(client('zed'))).not.toThrow();
    expect(() => pipe.disconnected(client('zed'))).not.toThrow();
    // onDisconnect runs in reverse registration order (a plugin before those it depends on).
    expect(calls).toEqual(['a:connect', 'b:connect:zed', 'b:disconnect:zed', 'a:disconnect']);
    expect(pluginErrors).toEqual(['a', 'a']);
  });

  it('inits in order and closes in reverse order, a failing close not stopping the others', async () => {
    const order: string[] = [];
    const mk = (name: string, failClose = false): MessageProcessor => ({
      name,
      canHandle: () => false,
      process: () => {},
      init: async () => void order.push(`init:${name}`),
      close: async () => {
        order.push(`close:${name}`);
        if (failClose) throw new Error('close failed');
      },
    });
    const { pipe } = build([mk('a'), mk('b', true), mk('c')]);
    await pipe.init();
    await expect(pipe.close()).resolves.toBeUndefined();
    expect(order).toEqual(['init:a', 'init:b', 'init:c', 'close:c', 'close:b', 'close:a']);
  });
});
