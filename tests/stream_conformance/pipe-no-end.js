// pipe(dest, { end: false }): the source's end unpipes but leaves dest open.
const { Readable, Writable } = require('stream');
const r = new Readable({ objectMode: true, read() {} });
const w = new Writable({ objectMode: true, write(c, e, cb) { console.log('_write', c); cb(); } });
w.on('unpipe', () => console.log('unpipe'));
w.on('finish', () => console.log('finish'));
r.on('end', () => console.log('end'));
r.pipe(w, { end: false });
r.push('x');
r.push(null);
setImmediate(() => { console.log('writable', w.writable); w.end('last'); });
