// `npm start`: until the server exists, Warden's main job is the policy tooling, so this runs it on the
// example policy: lint, the policy's own tests, and two explained decisions.
import { processIo, runCli } from '../packages/cli/dist/index.js';

const io = processIo();
const steps = [
  ['policy', 'lint', 'examples/policy'],
  ['policy', 'test', 'examples/tests'],
  [
    'policy',
    'explain',
    '--policy',
    'examples/policy',
    '--agent',
    'support-bot',
    '--tool',
    'billing.refund',
    '--args',
    '{"amount": 120}',
  ],
  [
    'policy',
    'explain',
    '--policy',
    'examples/policy',
    '--agent',
    'coding-agent',
    '--tool',
    'db.query',
    '--args',
    '{"database": "prod-main", "query": "DROP TABLE orders"}',
  ],
];
for (const argv of steps) {
  io.out(`\n$ warden ${argv.map((a) => (/[\s{"]/.test(a) ? `'${a}'` : a)).join(' ')}\n`);
  const code = await runCli(argv, io);
  if (code !== 0) {
    process.exitCode = code;
    break;
  }
}
io.out('\nNext: copy examples/policy, edit it, and run `npm run warden -- policy lint <your-policy>`.\n');
