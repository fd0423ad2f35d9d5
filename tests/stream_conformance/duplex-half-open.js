// A duplex with allowHalfOpen: false ends its writable side a tick after
// its readable side ends.
const { Duplex } = require('stream');
const d = new Duplex({ allowHalfOpen: false, read() {}, write(c, e, cb) { cb(); } });
for (const ev of ['end', 'finish', 'close']) d.on(ev, () => console.log(ev));
d.on('data', (c) => console.log('data', c.toString()));
d.push(Buffer.from('x'));
d.push(null);
