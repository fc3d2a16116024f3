// Preload for profiling the gateway child under benchmark load (node --cpu-prof is not allowed in
// NODE_OPTIONS): NODE_OPTIONS="--require bench/cpu-profile.preload.js" with CPU_PROFILE_DIR set
// starts the V8 profiler at boot and writes <dir>/gateway-<pid>.cpuprofile when the process exits
// (the in-thread inspector session answers synchronously, so an 'exit' handler can stop it).
'use strict';
const { Session } = require('node:inspector');
const { writeFileSync } = require('node:fs');
const { join } = require('node:path');

const dir = process.env.CPU_PROFILE_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 500 });
  session.post('Profiler.start');
  process.once('exit', () => {
    session.post('Profiler.stop', (err, result) => {
      if (!err) writeFileSync(join(dir, `gateway-${process.pid}.cpuprofile`), JSON.stringify(result.profile));
    });
  });
}
