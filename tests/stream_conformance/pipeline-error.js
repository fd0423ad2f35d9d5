// pipeline(): an error in the sink destroys the source too; the callback
// gets the error once, after both closed.
const { Readable, Writable, pipeline } = require('stream');
const r = new Readable({ read() {} });
const w = new Writable({ write(c, e, cb) { console.log('_write', c.toString()); cb(new Error('disk full')); } });
r.on('close', () => console.log('r close'));
w.on('close', () => console.log('w close'));
pipeline(r, w, (err) => console.log('done', err && err.message, r.destroyed, w.destroyed));
r.push(Buffer.from('a'));
