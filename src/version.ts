/** Server version reported in `welcome.server.version`; kept equal to package.json (test/unit/version.test.ts). */
export const VERSION = '0.1.0';
