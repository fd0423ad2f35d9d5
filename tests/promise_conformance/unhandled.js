// Unhandled rejections are reported once the tick and microtask queues are empty.
const log = (s) => console.log(s);
process.on('unhandledRejection', (r) => log('unhandled ' + r.message));
const a = Promise.reject(new Error('a'));
Promise.reject(new Error('b')).catch(() => log('b caught'));
const c = Promise.reject(new Error('c'));
Promise.resolve().then(() => log('c1')).then(() => { log('c2'); c.catch(() => log('c caught in drain')); });
setTimeout(() => {
  a.catch(() => log('a caught late'));
  Promise.resolve().then(() => { throw new Error('from timer'); });
  process.nextTick(() => log('timer tick'));
}, 0);
process.nextTick(() => log('tick'));
log('main');
