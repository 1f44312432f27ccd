/**
 * A driver for runNodeOn: prints, as JSON on one line, where it runs (hostname, working folder,
 * network namespace) and its arguments. Importing a TypeScript module of the repo proves tsx
 * resolves from inside a namespace host. With the argument `hang` it then never exits.
 */
import fs from 'node:fs';
import os from 'node:os';
import { eventually } from '../poll.ts';

const ready = await eventually(() => true, 100);
console.log('a line before the result, which runNodeOn ignores');
console.log(JSON.stringify({ hostname: os.hostname(), cwd: process.cwd(), netns: fs.readlinkSync('/proc/self/ns/net'), pid: process.pid, args: process.argv.slice(2), ready }));
if (process.argv[2] === 'hang') setInterval(() => {}, 1000);
