export { type CliIo, EXIT, processIo } from './cli-io.js';
export { runCli } from './program.js';
