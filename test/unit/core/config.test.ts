/**
 * Config: defaults, validation errors naming the key, `.env` + environment
 * loading, and `npm run tcpserver`'s exit code 2 on an invalid value.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CONFIG_KEYS, configFrom, loadConfig } from '../../../src/core/config.js';
import { ConfigError } from '../../../src/core/errors.js';

const ROOT = resolve(import.meta.dirname, '../../..');
const MAIN = join(ROOT, 'dist/src/main.js');

const tmp = mkdtempSync(join(tmpdir(), 'tcpserver-config-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('configFrom', () => {
  it('has the documented defaults and is frozen', () => {
    const c = configFrom({});
    expect(c).toMatchObject({
      tcp_host: '127.0.0.1',
      tcp_port: 4000,
      max_frame_bytes: 65536,
      max_text_bytes: 4096,
      history_per_room: 1000,
      feature_chat_pct: 100,
      feature_voice_pct: 100,
      feature_chat_beta: [],
      plugins: [],
      service_maps: 'baseline',
      service_broadcast: 'baseline',
    });
    expect(Object.isFrozen(c)).toBe(true);
    for (const key of CONFIG_KEYS) expect(c[key], key).not.toBeUndefined();
  });

  it('coerces strings as read from an env file', () => {
    const c = configFrom({ tcp_port: '5001', max_frame_bytes: '4096', max_text_bytes: '512', feature_voice_beta: ' a, b ,,c ' });
    expect(c.tcp_port).toBe(5001);
    expect(c.max_frame_bytes).toBe(4096);
    expect(c.feature_voice_beta).toEqual(['a', 'b', 'c']);
  });

  it('heartbeat_timeout_ms defaults to 2 x heartbeat_ms and must exceed it', () => {
    expect(configFrom({ heartbeat_ms: '1000' }).heartbeat_timeout_ms).toBe(2000);
    expect(configFrom({ heartbeat_ms: '1000', heartbeat_timeout_ms: '1500' }).heartbeat_timeout_ms).toBe(1500);
    expect(configError(() => configFrom({ heartbeat_ms: '1000', heartbeat_timeout_ms: '1000' })).key).toBe('heartbeat_timeout_ms');
  });

  it('max_text_bytes must leave every chat frame within max_frame_bytes', () => {
    expect(configFrom({ max_frame_bytes: '7168', max_text_bytes: '1024' }).max_text_bytes).toBe(1024);
    expect(configError(() => configFrom({ max_frame_bytes: '7167', max_text_bytes: '1024' })).key).toBe('max_text_bytes');
  });

  it('an empty numeric value is an error, not 0', () => {
    expect(configError(() => configFrom({ tcp_port: '' })).key).toBe('tcp_port');
  });

  it.each([
    ['tcp_port', 'abc'],
    ['tcp_port', '65536'],
    ['tcp_port', '1.5'],
    ['max_frame_bytes', '-1'],
    ['max_frame_bytes', '63'],
    ['max_frame_bytes', String(0xfffffe)],
    ['heartbeat_ms', 'soon'],
    ['log_level', 'loud'],
    ['feature_voice_pct', '101'],
    ['service_maps', 'nope'],
  ])('%s=%s throws ConfigError naming the key', (key, value) => {
    const err = configError(() => configFrom({ [key]: value }));
    expect(err.key).toBe(key);
    expect(err.code).toBe('ERR_CONFIG');
    expect(err.message).toContain(key);
  });

  it('rejects max_text_bytes over max_frame_bytes', () => {
    expect(configError(() => configFrom({ max_frame_bytes: 100, max_text_bytes: 101 })).key).toBe('max_text_bytes');
  });
});

describe('loadConfig', () => {
  it('works without a .env file', () => {
    expect(loadConfig(join(tmp, 'missing.env'), {}).tcp_port).toBe(4000);
  });

  it('reads a .env file, with environment values on top', () => {
    const file = join(tmp, 'a.env');
    writeFileSync(file, 'tcp_port=5555\nserver_name=from-file\n# comment\nlog_level=warn\n');
    const fromFile = loadConfig(file, {});
    expect(fromFile.tcp_port).toBe(5555);
    expect(fromFile.server_name).toBe('from-file');
    expect(fromFile.log_level).toBe('warn');
    const overridden = loadConfig(file, { tcp_port: '6000', server_name: 'from-env' });
    expect(overridden.tcp_port).toBe(6000);
    expect(overridden.server_name).toBe('from-env');
    expect(overridden.log_level).toBe('warn');
  });

  it('accepts upper-case environment names, the lower-case one winning', () => {
    const file = join(tmp, 'b.env');
    writeFileSync(file, 'tcp_port=5555\n');
    expect(loadConfig(file, { TCP_PORT: '7000' }).tcp_port).toBe(7000);
    expect(loadConfig(file, { TCP_PORT: '7000', tcp_port: '7001' }).tcp_port).toBe(7001);
    expect(loadConfig(file, { MAX_FRAME_BYTES: '2048', MAX_TEXT_BYTES: '100' })).toMatchObject({ max_frame_bytes: 2048, max_text_bytes: 100 });
  });

  it('ignores unrelated variables', () => {
    expect(loadConfig(join(tmp, 'missing.env'), { PATH: '/bin', HOME: '/x', npm_config_x: 'y' }).tcp_port).toBe(4000);
  });

  it('names the key of a bad value from the file or the environment', () => {
    const file = join(tmp, 'c.env');
    writeFileSync(file, 'max_frame_bytes=-1\n');
    expect(configError(() => loadConfig(file, {})).key).toBe('max_frame_bytes');
    expect(configError(() => loadConfig(join(tmp, 'missing.env'), { TCP_PORT: 'abc' })).key).toBe('tcp_port');
  });
});

describe('npm run tcpserver with an invalid value', () => {
  function run(env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
    return new Promise((done, fail) => {
      const child = spawn(process.execPath, [MAIN], {
        cwd: tmp, // no .env here
        env: { PATH: process.env.PATH ?? '', log_file: '', log_level: 'silent', ...env },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      child.on('error', fail);
      child.on('close', (code) => {
        clearTimeout(timer);
        done({ code, stderr });
      });
    });
  }

  it('the build output exists (npm test runs tsc first)', () => {
    expect(existsSync(MAIN), `${MAIN} missing: run npm run build`).toBe(true);
    expect(existsSync(join(tmp, '.env'))).toBe(false);
  });

  it.each([
    ['tcp_port', 'abc'],
    ['max_frame_bytes', '-1'],
  ])('%s=%s exits with code 2 and names the key on stderr', async (key, value) => {
    const { code, stderr } = await run({ [key]: value });
    expect(code).toBe(2);
    expect(stderr).toContain(key);
    expect(stderr).toMatch(/invalid configuration/);
  });
});
