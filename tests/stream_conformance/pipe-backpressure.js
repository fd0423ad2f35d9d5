// pipe(): a fast source into a slow sink pauses on write() === false and
// resumes on 'drain'; the source's end ends the sink.
const { Readable, Writable } = require('stream');
let i = 0;
const r = new Readable({ highWaterMark: 2, read() { i++; console.log('_read', i); this.push(i <= 4 ? Buffer.from(String(i)) : null); } });
const w = new Writable({ highWaterMark: 2, write(c, e, cb) {
  console.log('_write', c.toString());
  setImmediate(cb);
} });
r.on('pause', () => console.log('pause'));
r.on('resume', () => console.log('resume'));
r.on('end', () => console.log('end'));
w.on('drain', () => console.log('drain'));
w.on('pipe', () => console.log('pipe'));
w.on('unpipe', () => console.log('unpipe'));
w.on('finish', () => console.log('finish'));
w.on('close', () => console.log('close'));
r.pipe(w);
