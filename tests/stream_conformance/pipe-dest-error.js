// A sink that fails is unpiped from its source; the source stays open and
// paused; the sink's error reaches its own listener.
const { Readable, Writable } = require('stream');
const r = new Readable({ objectMode: true, read() {} });
const w = new Writable({ objectMode: true, write(c, e, cb) { console.log('write', c); cb(c === 2 ? new Error('bad chunk') : null); } });
w.on('unpipe', () => console.log('unpipe'));
w.on('error', (e) => console.log('error', e.message));
w.on('close', () => console.log('w close'));
r.on('pause', () => console.log('pause'));
r.pipe(w);
r.push(1);
r.push(2);
r.push(3);
setImmediate(() => console.log('r destroyed', r.destroyed, 'paused', r.isPaused(), 'len', r.readableLength));
