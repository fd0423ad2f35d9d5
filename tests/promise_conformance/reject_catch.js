// Rejections skip fulfilment handlers; throws reject; await rethrows.
const log = (s) => console.log(s);
Promise.reject(new Error('e1'))
  .then(() => log('never'))
  .then(() => log('never2'))
  .catch((e) => log('caught ' + e.message))
  .then(() => log('after catch'));
Promise.resolve().then(() => { throw new Error('thrown'); }).catch((e) => log('caught ' + e.message));
async function f() {
  try {
    await Promise.reject(new Error('awaited'));
  } catch (e) {
    log('async caught ' + e.message);
  }
  log('async end');
}
f();
Promise.resolve()
  .then(() => log('c1')).then(() => log('c2')).then(() => log('c3')).then(() => log('c4')).then(() => log('c5'));
log('main');
