// finally settles three turns after its source, passing the outcome on.
const log = (s) => console.log(s);
Promise.resolve(1).finally(() => log('f1')).then((v) => log('after f1 ' + v));
Promise.reject(new Error('e')).finally(() => log('f2')).catch((e) => log('after f2 ' + e.message));
Promise.resolve()
  .then(() => log('c1')).then(() => log('c2')).then(() => log('c3'))
  .then(() => log('c4')).then(() => log('c5')).then(() => log('c6'));
log('main');
