// A write that fails: its callback gets the error, then 'error' and
// 'close' on the same later tick; queued writes fail too.
const { Writable } = require('stream');
const w = new Writable({ write(c, e, cb) { console.log('_write', c.toString()); setImmediate(() => cb(new Error('EIO'))); } });
w.on('error', (e) => console.log('error', e.message));
w.on('close', () => console.log('close'));
w.on('finish', () => console.log('finish'));
w.write('a', (e) => console.log('cb a', e && e.message));
w.write('b', (e) => console.log('cb b', e && e.message));
w.end((e) => console.log('end cb', e && e.message));
