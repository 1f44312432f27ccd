// Preload that CPU-profiles a whole node process (NODE_OPTIONS cannot carry --cpu-prof):
//   NODE_OPTIONS="--import=/abs/path/bench/cpuprof-hook.mjs" CPUPROF_DIR=/tmp/x node ...
// Writes CPUPROF_DIR/<pid>.cpuprofile when the process exits. Worker threads are skipped.
import fs from 'node:fs';
import { Session } from 'node:inspector';
import { isMainThread } from 'node:worker_threads';

if (isMainThread && process.env.CPUPROF_DIR) {
  const dir = process.env.CPUPROF_DIR;
  const s = new Session();
  s.connect();
  s.post('Profiler.enable');
  s.post('Profiler.setSamplingInterval', { interval: Number(process.env.CPUPROF_INTERVAL_US ?? 100) });
  s.post('Profiler.start');
  process.on('exit', () => {
    s.post('Profiler.stop', (err, res) => {
      if (err) return;
      fs.mkdirSync(dir, { recursive: true });
      const name = `${process.argv[1]?.split('/').slice(-2).join('_') ?? 'node'}-${process.pid}.cpuprofile`;
      fs.writeFileSync(`${dir}/${name}`, JSON.stringify(res.profile));
    });
  });
}
