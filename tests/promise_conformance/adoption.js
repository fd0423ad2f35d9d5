// Resolving with a promise adopts it two microtask turns later.
const log = (s) => console.log(s);
const p = Promise.resolve(1);
new Promise((r) => r(p)).then(() => log('adopted'));
Promise.resolve().then(() => Promise.resolve('inner')).then((v) => log('returned ' + v));
p.then(() => log('t1')).then(() => log('t2')).then(() => log('t3')).then(() => log('t4')).then(() => log('t5'));
let res;
const pending = new Promise((r) => { res = r; });
new Promise((r) => r(pending)).then((v) => log('followed ' + v));
Promise.resolve()
  .then(() => { log('settle pending'); res('x'); })
  .then(() => log('s2')).then(() => log('s3')).then(() => log('s4')).then(() => log('s5'));
log('main');
