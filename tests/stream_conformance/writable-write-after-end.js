// write() after end(): false, the callback gets ERR_STREAM_WRITE_AFTER_END
// on a tick, and the stream errors.
const { Writable } = require('stream');
const w = new Writable({ write(c, e, cb) { cb(); } });
w.on('error', (e) => console.log('error', e.code));
w.on('finish', () => console.log('finish'));
w.on('close', () => console.log('close'));
w.end();
console.log('write ->', w.write(Buffer.from('x'), (e) => console.log('cb', e.code)));
