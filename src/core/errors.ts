/**
 * Wire error codes and the typed errors that carry them.
 *
 * Every code here is listed in docs/errors.md; test/unit/core/errors.test.ts
 * checks the two against each other. The wire codes and their fatality come
 * from PROTOCOL.md §3 ("Errors"); `internal_error` is this server's addition
 * (PROTOCOL.md allows extensions that only add).
 */

/** Fatality of each wire error code (PROTOCOL.md §3, plus `internal_error`). */
export const WIRE_ERRORS = {
  bad_frame: true,
  frame_too_large: true,
  bad_json: false,
  unknown_type: false,
  bad_request: false,
  not_in_room: false,
  rate_limited: false,
  feature_disabled: false,
  unauthorized: true,
  forbidden: false,
  server_busy: true,
  slow_consumer: true,
  idle_timeout: true,
  /** A plugin threw something that was not a ProtocolError. Extension. */
  internal_error: false,
  /** More than `error_budget` non-fatal errors within 10 s (PROTOCOL.md §3 allows closing). Extension. */
  too_many_errors: true,
} as const satisfies Record<string, boolean>;

/** One of the wire error codes (PROTOCOL.md §3). */
export type WireErrorCode = keyof typeof WIRE_ERRORS;

/**
 * An error that is answered on the wire as an `error` envelope.
 * Plugins throw it to reject a request: `throw new ProtocolError('not_in_room', 'join first')`.
 * Whether it closes the connection follows the code (`fatal` per PROTOCOL.md §3).
 */
export class ProtocolError extends Error {
  /** Wire code, e.g. `bad_request`. */
  readonly code: WireErrorCode;
  /** True when the server closes the connection after sending it. */
  readonly fatal: boolean;

  /**
   * @param code wire code from PROTOCOL.md §3
   * @param message human-readable reason, sent as `error.message`
   * @param options.cause the underlying error, if any (not sent on the wire)
   */
  constructor(code: WireErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ProtocolError';
    this.code = code;
    this.fatal = WIRE_ERRORS[code];
  }
}

/** Internal (never on the wire) error codes: name → meaning. Listed in docs/errors.md. */
export const INTERNAL_ERRORS = {
  ERR_CONFIG: 'a configuration value failed validation at start-up (exit code 2)',
  ERR_PLUGIN: 'a plugin failed to load or register (bad shape, duplicate name, missing dependency)',
} as const;

/**
 * True for a ProtocolError, also one from another copy of this package (a
 * plugin bundling its own tcpserver): checked by brand, not only instanceof.
 */
export function isProtocolError(err: unknown): err is ProtocolError {
  if (err instanceof ProtocolError) return true;
  const e = err as { name?: unknown; code?: unknown; fatal?: unknown } | null;
  return (
    typeof e === 'object' && e !== null && e.name === 'ProtocolError' && typeof e.code === 'string' &&
    Object.hasOwn(WIRE_ERRORS, e.code) && typeof e.fatal === 'boolean'
  );
}

/** Invalid configuration; `key` names the offending key. Thrown by loadConfig(). */
export class ConfigError extends Error {
  readonly code = 'ERR_CONFIG';
  /**
   * @param key the config key, e.g. `tcp_port`
   * @param message what rule the value broke
   */
  constructor(readonly key: string, message: string) {
    super(`config: ${key}: ${message}`);
    this.name = 'ConfigError';
  }
}

/** A plugin could not be registered (invalid shape, duplicate name, missing dependency). */
export class PluginError extends Error {
  readonly code = 'ERR_PLUGIN';
  /**
   * @param plugin the plugin's name (or module path when it did not load)
   * @param message what went wrong
   */
  constructor(readonly plugin: string, message: string, options?: { cause?: unknown }) {
    super(`plugin ${plugin}: ${message}`, options);
    this.name = 'PluginError';
  }
}
