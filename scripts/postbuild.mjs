// Makes the built CLI executable (npm links workspace bins at install time, before dist/ exists).
import { chmodSync, existsSync } from 'node:fs';

const bin = new URL('../packages/cli/dist/bin.js', import.meta.url);
if (existsSync(bin)) chmodSync(bin, 0o755);
