// pipeline(): a source destroyed without an error is a premature close; the
// destination is destroyed and the callback gets ERR_STREAM_PREMATURE_CLOSE.
const { Readable, Writable, pipeline } = require('stream');
const r = new Readable({ read() {} });
const w = new Writable({ write(c, e, cb) { console.log('_write', c.toString()); cb(); } });
r.on('close', () => console.log('r close'));
w.on('close', () => console.log('w close'));
w.on('finish', () => console.log('w finish'));
pipeline(r, w, (err) => console.log('done', err.code, w.destroyed));
r.push(Buffer.from('a'));
setImmediate(() => r.destroy());
