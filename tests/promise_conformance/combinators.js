// Promise.all / race / allSettled / any settle on the same turns as in V8.
const log = (s) => console.log(s);
Promise.all([Promise.resolve(1), Promise.resolve(2)]).then((v) => log('all ' + v.join(',')));
Promise.race([Promise.resolve('r1'), Promise.resolve('r2')]).then((v) => log('race ' + v));
Promise.allSettled([Promise.resolve(1), Promise.reject(new Error('x'))])
  .then((v) => log('settled ' + v.map((s) => s.status).join(',')));
Promise.any([Promise.reject(new Error('x')), Promise.resolve('y')]).then((v) => log('any ' + v));
Promise.all([]).then(() => log('all empty'));
Promise.all([Promise.resolve(1), Promise.reject(new Error('boom'))])
  .catch((e) => log('all rejected ' + e.message));
let late;
Promise.race([new Promise((r) => { late = r; }), Promise.resolve().then(() => 'chained')])
  .then((v) => log('race2 ' + v));
Promise.resolve()
  .then(() => log('c1')).then(() => log('c2')).then(() => log('c3')).then(() => { log('c4'); late('late'); });
log('main');
