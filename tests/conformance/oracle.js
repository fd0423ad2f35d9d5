'use strict';
// Oracle for the ordering scenarios of /work/shared/conformance/SPEC.md (see
// docs/conformance.md): `node tests/conformance/oracle.js FILE.json` runs the
// scenario under Node and prints its trace on stdout, one logged line per line.
//
// This file is deliberately CommonJS: as an ES module the top level would be run
// from a microtask, so microtasks would drain before next ticks after `program`.

const fs = require('fs');

// Warnings (DeprecationWarning for process.binding, TimeoutOverflowWarning for
// delays above 2^31-1) would go to stderr. Drop them: the harness compares
// stdout only, but a quiet stderr makes real diagnostics easy to spot.
process.noDeprecation = true;
process.removeAllListeners('warning');

function fail(message) {
  process.stderr.write(`oracle: ${message}\n`);
  process.exit(2);
}

// ---------------------------------------------------------------- validation
// The whole scenario is checked before anything runs, so a malformed file never
// produces half a trace. Every message names the JSON path of the problem.

function isObject(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function checkKeys(obj, path, required, optional) {
  for (const k of required) {
    if (!(k in obj)) throw new Error(`${path}: missing key "${k}"`);
  }
  for (const k of Object.keys(obj)) {
    if (!required.includes(k) && !optional.includes(k)) {
      throw new Error(`${path}.${k}: unknown key`);
    }
  }
}

function checkNumber(v, path, min) {
  if (typeof v !== 'number') throw new Error(`${path}: expected a number`);
  if (v < min) throw new Error(`${path}: expected a number >= ${min}`);
}

function checkString(v, path) {
  if (typeof v !== 'string') throw new Error(`${path}: expected a string`);
}

function checkBlock(block, path) {
  if (!Array.isArray(block)) throw new Error(`${path}: expected an array of ops`);
  block.forEach((op, i) => checkOp(op, `${path}[${i}]`));
}

function checkOp(op, path) {
  if (!isObject(op)) throw new Error(`${path}: expected an op object`);
  const keys = Object.keys(op);
  if (keys.length !== 1) {
    throw new Error(`${path}: expected exactly one key, found ${keys.length}`);
  }
  const kind = keys[0];
  const arg = op[kind];
  const at = `${path}.${kind}`;
  switch (kind) {
    case 'log':
    case 'clear':
      return checkString(arg, at);
    case 'block':
      return checkNumber(arg, at, 0);
    case 'nextTick':
    case 'microtask':
    case 'io':
    case 'close':
      return checkBlock(arg, at);
    case 'then':
      if (!Array.isArray(arg)) throw new Error(`${at}: expected an array of blocks`);
      return arg.forEach((b, i) => checkBlock(b, `${at}[${i}]`));
    case 'timeout':
    case 'interval':
    case 'immediate': {
      if (!isObject(arg)) throw new Error(`${at}: expected an object`);
      const required = { timeout: ['ms', 'do'], interval: ['ms', 'times', 'do'],
        immediate: ['do'] }[kind];
      checkKeys(arg, at, required, ['id']);
      if ('id' in arg) checkString(arg.id, `${at}.id`);
      // Any number is a valid delay: Node itself maps < 1 and > 2^31-1 to 1.
      if ('ms' in arg) checkNumber(arg.ms, `${at}.ms`, -Infinity);
      if (kind === 'interval' && !(Number.isInteger(arg.times) && arg.times >= 1)) {
        throw new Error(`${at}.times: expected an integer >= 1`);
      }
      return checkBlock(arg.do, `${at}.do`);
    }
    default:
      throw new Error(`${path}: unknown op "${kind}"`);
  }
}

function load(file) {
  let scenario;
  try {
    scenario = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    fail(`${file}: ${e.message}`);
  }
  try {
    if (!isObject(scenario)) throw new Error('(root): expected an object');
    // "name" and any extra top-level keys (e.g. "rule") are documentation.
    if ('name' in scenario) checkString(scenario.name, 'name');
    if (!('program' in scenario)) throw new Error('(root): missing key "program"');
    checkBlock(scenario.program, 'program');
  } catch (e) {
    fail(`${file}: ${e.message}`);
  }
  return scenario;
}

// --------------------------------------------------------------- interpreter

// Lines are buffered and written synchronously at exit, so that printing never
// creates or uses a stream handle inside the loop whose ordering is observed.
const trace = [];
process.on('exit', () => {
  if (trace.length > 0) fs.writeSync(1, trace.join('\n') + '\n');
});

// id -> { clear, handle } of the latest handle created with that id.
const handles = new Map();

function remember(id, clear, handle) {
  if (id !== undefined) handles.set(id, { clear, handle });
}

// Busy-wait on the monotonic clock (Date.now could jump with the wall clock).
function busyWait(ms) {
  const end = process.hrtime.bigint() + BigInt(Math.round(ms * 1e6));
  while (process.hrtime.bigint() < end);
}

// Closing a bare TCP handle is the cheapest way to get a callback from libuv's
// close phase; process.binding is deprecated but still present in Node 20.
const { TCP, constants: tcpConstants } = process.binding('tcp_wrap');

function run(block) {
  for (const op of block) {
    const kind = Object.keys(op)[0];
    const arg = op[kind];
    switch (kind) {
      case 'log':
        trace.push(arg);
        break;
      case 'nextTick':
        process.nextTick(() => run(arg));
        break;
      case 'microtask':
        queueMicrotask(() => run(arg));
        break;
      case 'then': {
        let p = Promise.resolve();
        for (const b of arg) p = p.then(() => run(b));
        break;
      }
      case 'timeout':
        remember(arg.id, clearTimeout, setTimeout(() => run(arg.do), arg.ms));
        break;
      case 'interval': {
        let runs = 0;
        const handle = setInterval(() => {
          run(arg.do);
          // Clearing an interval twice is harmless, so no need to know whether
          // `do` already cleared it.
          if (++runs === arg.times) clearInterval(handle);
        }, arg.ms);
        remember(arg.id, clearInterval, handle);
        break;
      }
      case 'immediate':
        remember(arg.id, clearImmediate, setImmediate(() => run(arg.do)));
        break;
      case 'clear': {
        const h = handles.get(arg);
        if (h !== undefined) h.clear(h.handle);
        break;
      }
      case 'io':
        fs.stat(__filename, () => run(arg));
        break;
      case 'block':
        busyWait(arg);
        break;
      case 'close':
        new TCP(tcpConstants.SOCKET).close(() => run(arg));
        break;
    }
  }
}

if (process.argv.length !== 3) fail('usage: node oracle.js FILE.json');
run(load(process.argv[2]).program);
