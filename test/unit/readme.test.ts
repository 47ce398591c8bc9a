import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CONFIG_KEYS, configFrom } from '../../src/core/config.js';

describe('README configuration table', () => {
  const readme = readFileSync('README.md', 'utf8');
  const rows = new Map(
    [...readme.matchAll(/^\| `([a-z_]+)` \| ([^|]+) \|/gm)].map((m) => [m[1]!, m[2]!.trim()]),
  );

  it('documents every config key, and nothing else', () => {
    expect([...rows.keys()].sort()).toEqual([...CONFIG_KEYS].sort());
  });

  it('states the real defaults', () => {
    const defaults = configFrom({}) as Record<string, unknown>;
    for (const [key, doc] of rows) {
      const v = defaults[key];
      const shown = Array.isArray(v) ? (v.length ? v.join(',') : '(empty)') : v === '' ? '(empty)' : String(v);
      expect(doc, key).toBe(shown === '(empty)' ? '(empty)' : `\`${shown}\``);
    }
  });
});
