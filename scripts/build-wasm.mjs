#!/usr/bin/env node
/**
 * Compiles the frame-scan SIMD kernels (src/services/frame-scan/scan.wat) to
 * WebAssembly with wabt (npm `wabt`, simd feature on) and writes the binary
 * next to the compiled JS: dist/src/services/frame-scan/scan.wasm. Run by
 * `npm run build` after tsc; dist/ is not committed, so neither is the binary.
 *
 * Usage: node scripts/build-wasm.mjs [--wat <file.wat>] [--out <file.wasm>] [--quiet]
 *   Defaults as above, relative to the repository root. The SIMD scanner
 *   calls it with both flags when it runs from TypeScript sources (vitest)
 *   and finds no compiled binary beside itself.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import initWabt from 'wabt';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    wat: { type: 'string', default: resolve(root, 'src/services/frame-scan/scan.wat') },
    out: { type: 'string', default: resolve(root, 'dist/src/services/frame-scan/scan.wasm') },
    quiet: { type: 'boolean', default: false },
  },
});

const wabt = await initWabt();
const source = readFileSync(values.wat, 'utf8');
const mod = wabt.parseWat(values.wat, source, { simd: true });
try {
  mod.resolveNames();
  mod.validate();
  const { buffer } = mod.toBinary({ log: false, write_debug_names: true });
  if (!WebAssembly.validate(buffer)) throw new Error(`${values.wat}: wabt output does not validate in this runtime`);
  mkdirSync(dirname(values.out), { recursive: true });
  // Write then rename, so a concurrent reader never sees half a module.
  const tmp = `${values.out}.${process.pid}.tmp`;
  writeFileSync(tmp, buffer);
  renameSync(tmp, values.out);
  if (!values.quiet) console.log(`build-wasm: ${values.out} (${buffer.length} bytes)`);
} finally {
  mod.destroy();
}
