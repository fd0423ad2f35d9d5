// pause() emits 'pause' synchronously; resume() takes effect on the next
// tick, emitting 'resume' and flowing the buffer.
const { Readable } = require('stream');
const r = new Readable({ objectMode: true, read() {} });
r.on('pause', () => console.log('pause', r.isPaused()));
r.on('resume', () => console.log('resume'));
r.on('data', (d) => { console.log('data', d); if (d === 2) r.pause(); });
r.push(1); r.push(2); r.push(3);
console.log('flowing', r.readableFlowing);
setImmediate(() => {
  console.log('immediate paused', r.isPaused(), 'len', r.readableLength);
  r.resume();
  console.log('after resume call');
  process.nextTick(() => console.log('tick'));
});
