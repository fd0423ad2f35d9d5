// Reactions run as microtasks in FIFO order; chains interleave.
const log = (s) => console.log(s);
Promise.resolve().then(() => log('a1')).then(() => log('a2')).then(() => log('a3'));
Promise.resolve().then(() => log('b1')).then(() => log('b2'));
queueMicrotask(() => log('m1'));
const p = Promise.resolve(7);
p.then((v) => log('p1 ' + v));
p.then((v) => log('p2 ' + v));
process.nextTick(() => log('tick'));
log('main');
