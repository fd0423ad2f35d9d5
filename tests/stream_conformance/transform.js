// A transform: output follows input; flush pushes a last chunk; 'finish'
// (writable side) precedes 'end' (readable side), then 'close'.
const { Transform } = require('stream');
const t = new Transform({
  transform(c, e, cb) { console.log('_transform', c.toString()); cb(null, c.toString().toUpperCase()); },
  flush(cb) { console.log('_flush'); cb(null, '!'); },
});
t.on('data', (c) => console.log('data', c.toString()));
for (const ev of ['finish', 'end', 'close']) t.on(ev, () => console.log(ev));
t.write('ab');
t.write('cd');
t.end();
console.log('main');
