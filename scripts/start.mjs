// `npm start`: runs the Warden server with no arguments: the embedded SQLite file ./warden.db and the
// example policy (or the policy stored in that database), on http://127.0.0.1:7400. Ctrl-C stops it
// gracefully. Settings come from WARDEN_* environment variables or `npm start -- --port 8080 …`.
import { processIo, runCli } from '../packages/cli/dist/index.js';

process.exitCode = await runCli(['serve', ...process.argv.slice(2)], processIo());
