/**
 * docs/errors.md lists exactly the codes of src/core/errors.ts, with the same
 * fatality (STYLE.md: "a test checks the list against the code").
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, INTERNAL_ERRORS, PluginError, ProtocolError, WIRE_ERRORS, type WireErrorCode } from '../../../src/core/errors.js';

const DOC = readFileSync(resolve(import.meta.dirname, '../../../docs/errors.md'), 'utf8');

/** The rows of the markdown table under `## heading`: cells per row, header and separator dropped. */
function table(heading: string): string[][] {
  const start = DOC.indexOf(`## ${heading}\n`);
  expect(start, `section "${heading}" in docs/errors.md`).toBeGreaterThanOrEqual(0);
  const next = DOC.indexOf('\n## ', start + 1);
  const section = DOC.slice(start, next < 0 ? undefined : next);
  const rows = section
    .split('\n')
    .filter((l) => l.trimStart().startsWith('|'))
    .map((l) => l.trim().replace(/^\||\|$/g, '').split('|').map((c) => c.trim()));
  expect(rows.length).toBeGreaterThan(2);
  expect(rows[1]!.every((c) => /^:?-+:?$/.test(c))).toBe(true);
  return rows.slice(2);
}

const unquote = (cell: string) => cell.replace(/^`|`$/g, '');

describe('docs/errors.md', () => {
  it('lists every wire code with its fatality, and nothing else', () => {
    const rows = table('Wire errors');
    const documented = Object.fromEntries(rows.map((r) => [unquote(r[0]!), r[1]]));
    expect(rows.length).toBe(Object.keys(documented).length); // no code twice
    expect(Object.keys(documented).sort()).toEqual(Object.keys(WIRE_ERRORS).sort());
    for (const [code, fatal] of Object.entries(WIRE_ERRORS)) {
      expect(documented[code], code).toBe(fatal ? 'yes' : 'no');
    }
    for (const r of rows) {
      expect(r[2], `when for ${r[0]}`).toBeTruthy();
      expect(r[3], `source for ${r[0]}`).toMatch(/PROTOCOL\.md|extension/);
    }
  });

  it('marks internal_error as this server’s extension', () => {
    const row = table('Wire errors').find((r) => unquote(r[0]!) === 'internal_error')!;
    expect(row[3]).toMatch(/extension/);
  });

  it('lists every internal code, and nothing else', () => {
    const codes = table('Internal errors').map((r) => unquote(r[0]!));
    expect(codes.sort()).toEqual(Object.keys(INTERNAL_ERRORS).sort());
  });

  it('lists the exit codes 0, 1, 2', () => {
    expect(table('Exit codes of `npm run tcpserver`').map((r) => unquote(r[0]!))).toEqual(['0', '1', '2']);
  });
});

describe('error classes', () => {
  it('ProtocolError carries its code and the fatality of the code', () => {
    for (const [code, fatal] of Object.entries(WIRE_ERRORS) as [WireErrorCode, boolean][]) {
      const e = new ProtocolError(code, 'm');
      expect(e).toBeInstanceOf(Error);
      expect(e.code).toBe(code);
      expect(e.fatal).toBe(fatal);
      expect(e.message).toBe('m');
    }
    const cause = new Error('inner');
    expect(new ProtocolError('internal_error', 'x', { cause }).cause).toBe(cause);
  });

  it('ConfigError and PluginError carry the internal codes', () => {
    const c = new ConfigError('tcp_port', 'bad');
    expect(c.code).toBe('ERR_CONFIG');
    expect(c.key).toBe('tcp_port');
    expect(c.message).toContain('tcp_port');
    const p = new PluginError('voice', 'bad', { cause: 1 });
    expect(p.code).toBe('ERR_PLUGIN');
    expect(p.plugin).toBe('voice');
    expect(p.cause).toBe(1);
    expect(Object.keys(INTERNAL_ERRORS)).toEqual(expect.arrayContaining([c.code, p.code]));
  });
});
