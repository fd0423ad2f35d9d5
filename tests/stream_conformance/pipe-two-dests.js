// One source piped into two sinks: it pauses when either write returns
// false and resumes only when every sink that asked has drained.
const { Readable, Writable } = require('stream');
let i = 0;
const r = new Readable({ objectMode: true, highWaterMark: 2, read() { i++; this.push(i <= 5 ? i : null); } });
function sink(name, turns) {
  return new Writable({ objectMode: true, highWaterMark: 1, write(c, e, cb) {
    console.log(name, 'write', c);
    let n = turns;
    (function wait() { if (n-- > 0) setImmediate(wait); else cb(); })();
  } });
}
const a = sink('a', 1);
const b = sink('b', 3);
r.on('pause', () => console.log('pause'));
r.on('resume', () => console.log('resume'));
a.on('drain', () => console.log('a drain'));
b.on('drain', () => console.log('b drain'));
a.on('finish', () => console.log('a finish'));
b.on('finish', () => console.log('b finish'));
r.pipe(a);
r.pipe(b);
