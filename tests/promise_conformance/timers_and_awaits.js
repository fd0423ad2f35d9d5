// Awaiting timers/promises inside async functions, among ticks, timers and immediates.
const log = (s) => console.log(s);
const { setTimeout: sleep, setImmediate: immediate } = require('timers/promises');
async function worker(name, ms) {
  log(name + ' start');
  await sleep(ms);
  log(name + ' woke');
  process.nextTick(() => log(name + ' tick'));
  await null;
  log(name + ' after await');
}
worker('w1', 1);
worker('w2', 1);
setTimeout(() => {
  log('timeout cb');
  setImmediate(() => log('immediate cb'));
  immediate('v').then((v) => log('immediate promise ' + v));
  setTimeout(() => log('timeout 2'), 0);
  Promise.resolve().then(() => log('timeout microtask'));
}, 1);
process.nextTick(() => log('main tick'));
log('main');
