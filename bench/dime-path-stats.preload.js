// Preload for the DIME path benchmark (bench/dime-path.ts): NODE_OPTIONS="--require
// bench/dime-path-stats.preload.js" with DIME_PATH_STATS_FILE set counts and times, inside a gateway
// child, the calls the benchmark attributes time to: every HsmKeystore method (the HSM calls), the
// DnsDimeDirectory lookups (calls, and the cold ones that go to DNS / DMTP SGNT), and the DIME steps
// (DimeSealer.seal, DimeMessageVerifier.verify, DimeDoorChecker.check, DimeInboundOpener.open) and the
// outbound DMTP client (DmtpClient.connect, deliver), and node:crypto's one-shot sign/verify.
// Wall time per call (start -> settle), so under load it includes waiting (thread pool, event loop).
// The totals are written as JSON to the file every 500 ms and at exit; the bench diffs two readings.
// Classes are wrapped on their prototype the first time a module exporting them is loaded.
'use strict';
const Module = require('node:module');
const { writeFileSync, renameSync } = require('node:fs');
const { setInterval } = require('node:timers');

const file = process.env.DIME_PATH_STATS_FILE;
if (file) {
  const TARGETS = {
    HsmKeystore: ['signEd25519', 'signEcdsa', 'signRsaSha256', 'deriveEcdh', 'wrap', 'unwrap', 'hmacSha256', 'readData', 'writeData', 'publicKey', 'hasObject'],
    DnsDimeDirectory: ['lookupDomain', 'userSignet', 'discover', 'fetchOrgSignet', 'fetchUserSignet', 'sgnt', 'record'],
    DimeSealer: ['seal'],
    DimeMessageVerifier: ['verify'],
    DimeDoorChecker: ['check'],
    DimeInboundOpener: ['open'],
    DimeUserService: ['withUserKeys', 'ensure', 'find'],
    // outbound DMTP: connect (TCP + TLS handshake with the peer's HSM key + peer check + greeting) and the transfer
    DmtpClient: ['static:connect', 'deliver', 'quit'],
  };
  /** name -> { calls, errors, ms } */
  const stats = {};
  const patched = new Set();
  const record = (name, startNs, failed) => {
    const s = (stats[name] ??= { calls: 0, errors: 0, ms: 0 });
    s.calls++;
    if (failed) {
      s.errors++;
      // what failed, with its cause chain (the gateway logs only the SMTP reply of a failed seal)
      const chain = [];
      for (let e = failed, i = 0; e && i < 4; e = e.cause, i++) chain.push(`${e.code ?? e.name ?? ''}: ${String(e.message ?? e).slice(0, 160)}`);
      const key = chain.join(' <- ');
      s.errorMessages ??= {};
      if (key in s.errorMessages || Object.keys(s.errorMessages).length < 10) s.errorMessages[key] = (s.errorMessages[key] ?? 0) + 1;
    }
    s.ms += Number(process.hrtime.bigint() - startNs) / 1e6;
  };
  const wrap = (cls, className) => {
    if (patched.has(cls)) return;
    patched.add(cls);
    for (const entry of TARGETS[className]) {
      const isStatic = entry.startsWith('static:');
      const method = isStatic ? entry.slice(7) : entry;
      const owner = isStatic ? cls : cls.prototype;
      const original = owner[method];
      if (typeof original !== 'function') continue;
      const name = `${className}.${method}`;
      owner[method] = function (...args) {
        const start = process.hrtime.bigint();
        let result;
        try {
          result = original.apply(this, args);
        } catch (err) {
          record(name, start, err ?? true);
          throw err;
        }
        if (result && typeof result.then === 'function') {
          return result.then(
            (v) => (record(name, start, false), v),
            (e) => {
              record(name, start, e ?? true);
              throw e;
            },
          );
        }
        record(name, start, false);
        return result;
      };
    }
  };
  // software signatures (Ed25519 verifications of DIME chunks and signets, signs with software keys):
  // node:crypto's one-shot functions, looked up on the module at each call by the compiled code
  const nodeCrypto = require('node:crypto');
  for (const fn of ['sign', 'verify']) {
    const original = nodeCrypto[fn];
    nodeCrypto[fn] = function (...args) {
      const start = process.hrtime.bigint();
      try {
        const result = original.apply(this, args);
        record(`crypto.${fn}`, start, false);
        return result;
      } catch (err) {
        record(`crypto.${fn}`, start, err ?? true);
        throw err;
      }
    };
  }
  const load = Module._load;
  Module._load = function (...args) {
    const exports = load.apply(this, args);
    if (exports && (typeof exports === 'object' || typeof exports === 'function')) {
      for (const className of Object.keys(TARGETS)) {
        let cls;
        try {
          cls = exports[className];
        } catch {
          continue;
        }
        if (typeof cls === 'function' && cls.prototype) wrap(cls, className);
      }
    }
    return exports;
  };
  const flush = () => {
    try {
      writeFileSync(`${file}.tmp`, JSON.stringify(stats));
      renameSync(`${file}.tmp`, file);
    } catch {
      // the bench reads the last complete file; a failed write only delays it
    }
  };
  setInterval(flush, 500).unref();
  process.once('exit', flush);
}
