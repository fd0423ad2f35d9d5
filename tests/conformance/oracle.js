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

// ctx: 'async' for the top level of an async body (await, throw, return
// allowed), 'step' for the top level of a chain step (throw, return), else
// undefined.
function checkBlock(block, path, ctx) {
  if (!Array.isArray(block)) throw new Error(`${path}: expected an array of ops`);
  block.forEach((op, i) => checkOp(op, `${path}[${i}]`, ctx));
}

function checkOp(op, path, ctx) {
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
    case 'promise':
      return checkString(arg, at);
    case 'resolve':
    case 'reject': {
      if (!isObject(arg)) throw new Error(`${at}: expected an object`);
      checkKeys(arg, at, ['id'], kind === 'resolve' ? ['with'] : ['reason']);
      checkString(arg.id, `${at}.id`);
      if ('with' in arg) checkString(arg.with, `${at}.with`);
      if ('reason' in arg) checkString(arg.reason, `${at}.reason`);
      return;
    }
    case 'chain': {
      if (!isObject(arg)) throw new Error(`${at}: expected an object`);
      checkKeys(arg, at, ['on', 'steps'], ['id']);
      checkString(arg.on, `${at}.on`);
      if ('id' in arg) checkString(arg.id, `${at}.id`);
      if (!Array.isArray(arg.steps) || arg.steps.length === 0) {
        throw new Error(`${at}.steps: expected a non-empty array of steps`);
      }
      return arg.steps.forEach((step, i) => {
        const sp = `${at}.steps[${i}]`;
        if (!isObject(step) || Object.keys(step).length !== 1) {
          throw new Error(`${sp}: expected an object with one key: then, catch or finally`);
        }
        const k = Object.keys(step)[0];
        if (!['then', 'catch', 'finally'].includes(k)) throw new Error(`${sp}.${k}: unknown step`);
        checkBlock(step[k], `${sp}.${k}`, 'step');
      });
    }
    case 'combine': {
      if (!isObject(arg)) throw new Error(`${at}: expected an object`);
      checkKeys(arg, at, ['id', 'kind', 'of'], []);
      checkString(arg.id, `${at}.id`);
      if (!['all', 'allSettled', 'race', 'any'].includes(arg.kind)) {
        throw new Error(`${at}.kind: expected one of all, allSettled, race, any`);
      }
      if (!Array.isArray(arg.of)) throw new Error(`${at}.of: expected an array of promise ids`);
      return arg.of.forEach((id, i) => checkString(id, `${at}.of[${i}]`));
    }
    case 'async': {
      if (!isObject(arg)) throw new Error(`${at}: expected an object`);
      checkKeys(arg, at, ['do'], ['id']);
      if ('id' in arg) checkString(arg.id, `${at}.id`);
      return checkBlock(arg.do, `${at}.do`, 'async');
    }
    case 'await':
      if (ctx !== 'async') throw new Error(`${path}: await outside the top level of an async body`);
      if (arg !== null) checkString(arg, at);
      return;
    case 'throw':
    case 'return':
      if (ctx !== 'async' && ctx !== 'step') {
        throw new Error(`${path}: ${kind} outside the top level of a step or async body`);
      }
      return checkString(arg, at);
    default:
      throw new Error(`${path}: unknown op "${kind}"`);
  }
}

// Calls f(op, path) for every op, nested ones included.
function walk(block, path, f) {
  block.forEach((op, i) => {
    const at = `${path}[${i}]`;
    f(op, at);
    const kind = Object.keys(op)[0];
    const arg = op[kind];
    switch (kind) {
      case 'nextTick': case 'microtask': case 'io': case 'close':
        return walk(arg, `${at}.${kind}`, f);
      case 'timeout': case 'interval': case 'immediate': case 'async':
        return walk(arg.do, `${at}.${kind}.do`, f);
      case 'then':
        return arg.forEach((b, k) => walk(b, `${at}.then[${k}]`, f));
      case 'chain':
        return arg.steps.forEach((step, k) => {
          const sk = Object.keys(step)[0];
          walk(step[sk], `${at}.chain.steps[${k}].${sk}`, f);
        });
    }
  });
}

// A combine result is a promise of a list, not of undefined: it can be
// awaited and chained on, but not adopted or combined again, and its id may
// not name another promise (the Rust runner keeps it in a different type).
function checkPromiseIds(program) {
  const combined = new Set();
  walk(program, 'program', (op) => { if ('combine' in op) combined.add(op.combine.id); });
  const used = (id, path) => {
    if (combined.has(id)) throw new Error(`${path}: "${id}" names a combine result, which cannot be used here`);
  };
  walk(program, 'program', (op, at) => {
    const kind = Object.keys(op)[0];
    const arg = op[kind];
    if (kind === 'promise') used(arg, `${at}.promise`);
    if (kind === 'resolve' && 'with' in arg) used(arg.with, `${at}.resolve.with`);
    if (kind === 'return') used(arg, `${at}.return`);
    if ((kind === 'chain' || kind === 'async') && 'id' in arg) used(arg.id, `${at}.${kind}.id`);
    if (kind === 'combine') arg.of.forEach((id, i) => used(id, `${at}.combine.of[${i}]`));
  });
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
    checkPromiseIds(scenario.program);
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

// id -> the latest promise created with that id, and its resolvers when it
// was made by a `promise` op. An id not created yet stands for `undefined`.
const promises = new Map();

function promiseOf(id) {
  const p = promises.get(id);
  return p === undefined ? undefined : p.promise;
}

// Rejection reasons are Errors whose message is the scenario's text.
process.on('unhandledRejection', (reason) => {
  trace.push(`unhandled ${reason instanceof Error ? reason.message : String(reason)}`);
});

// Runs a step or async body: `throw` and `return` end it; `await` (async
// bodies only) suspends it. Returns what the body's function returns.
async function runAsync(block) {
  for (const op of block) {
    const kind = Object.keys(op)[0];
    const arg = op[kind];
    if (kind === 'await') await (arg === null ? undefined : promiseOf(arg));
    else if (kind === 'throw') throw new Error(arg);
    else if (kind === 'return') return promiseOf(arg);
    else run([op]);
  }
  return undefined;
}

function runStep(block) {
  for (const op of block) {
    const kind = Object.keys(op)[0];
    const arg = op[kind];
    if (kind === 'throw') throw new Error(arg);
    if (kind === 'return') return promiseOf(arg);
    run([op]);
  }
  return undefined;
}

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
      case 'promise': {
        let resolve, reject;
        const promise = new Promise((res, rej) => { resolve = res; reject = rej; });
        promises.set(arg, { promise, resolve, reject });
        break;
      }
      case 'resolve': {
        const p = promises.get(arg.id);
        if (p !== undefined && p.resolve) p.resolve('with' in arg ? promiseOf(arg.with) : undefined);
        break;
      }
      case 'reject': {
        const p = promises.get(arg.id);
        if (p !== undefined && p.reject) p.reject(new Error(arg.reason ?? 'rejected'));
        break;
      }
      case 'chain': {
        let p = Promise.resolve(promiseOf(arg.on));
        for (const step of arg.steps) {
          const k = Object.keys(step)[0];
          const b = step[k];
          if (k === 'then') p = p.then(() => runStep(b));
          else if (k === 'catch') p = p.catch(() => runStep(b));
          else p = p.finally(() => runStep(b));
        }
        if (arg.id !== undefined) promises.set(arg.id, { promise: p });
        break;
      }
      case 'combine': {
        const p = Promise[arg.kind](arg.of.map(promiseOf));
        promises.set(arg.id, { promise: p });
        break;
      }
      case 'async': {
        const p = runAsync(arg.do);
        if (arg.id !== undefined) promises.set(arg.id, { promise: p });
        break;
      }
    }
  }
}

if (process.argv.length !== 3) fail('usage: node oracle.js FILE.json');
run(load(process.argv[2]).program);
