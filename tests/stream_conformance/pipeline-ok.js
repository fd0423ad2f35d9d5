// pipeline(src, transform, dest): data flows through; the callback runs
// once, after the last stream has finished and closed.
const { Readable, Transform, Writable, pipeline } = require('stream');
let i = 0;
const r = new Readable({ objectMode: true, read() { i++; this.push(i <= 3 ? i : null); } });
const t = new Transform({ objectMode: true, transform(c, e, cb) { cb(null, c * 10); } });
const w = new Writable({ objectMode: true, write(c, e, cb) { console.log('_write', c); cb(); } });
r.on('close', () => console.log('r close'));
t.on('close', () => console.log('t close'));
w.on('finish', () => console.log('w finish'));
w.on('close', () => console.log('w close'));
pipeline(r, t, w, (err) => console.log('done', err === undefined ? 'ok' : err));
