// Node twin of examples/micro/stream_kinds.rs: `node stream_kinds.js KIND N`.
const { EventEmitter } = require('events');
const { Readable, Writable } = require('stream');
const [kind, nStr] = process.argv.slice(2);
const n = Number(nStr);
function report(start) {
  const secs = Number(process.hrtime.bigint() - start) / 1e9;
  console.log(`ops=${n} secs=${secs.toFixed(6)} ops_per_sec=${Math.round(n / secs)}`);
}
if (kind === 'emit') {
  const em = new EventEmitter();
  let sum = 0;
  em.on('tick', (v) => { sum += v; });
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) em.emit('tick', i);
  report(start);
} else if (kind === 'stream_pipe') {
  let left = n;
  const src = new Readable({ read() { if (left === 0) this.push(null); else { left--; this.push(Buffer.alloc(16384, 7)); } } });
  let got = 0;
  const dst = new Writable({ write(c, e, cb) { got += c.length; cb(); } });
  const start = process.hrtime.bigint();
  dst.on('finish', () => report(start));
  src.pipe(dst);
} else {
  process.exit(3);
}
