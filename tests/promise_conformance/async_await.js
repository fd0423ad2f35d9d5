// async functions start synchronously; each await takes a turn.
const log = (s) => console.log(s);
async function inner(tag) {
  log(tag + ' start');
  await null;
  log(tag + ' after await');
  return tag;
}
async function outer() {
  log('outer start');
  const v = await inner('i1');
  log('outer got ' + v);
  const w = await Promise.resolve('w');
  log('outer got ' + w);
  const x = await inner('i2');
  log('outer got ' + x);
  return 'done';
}
outer().then((v) => log('outer resolved ' + v));
Promise.resolve()
  .then(() => log('c1')).then(() => log('c2')).then(() => log('c3')).then(() => log('c4'))
  .then(() => log('c5')).then(() => log('c6')).then(() => log('c7')).then(() => log('c8'));
log('main');
