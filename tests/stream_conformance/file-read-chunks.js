// fs.createReadStream: 64 KiB chunks by default; start/end (inclusive)
// select a range; highWaterMark sets the chunk size; 'end' then 'close'
// (after the file is closed on the pool).
const fs = require('fs');
const os = require('os');
const path = require('path');
const p = path.join(os.tmpdir(), `nodeloop-frc-${process.pid}.bin`);
fs.writeFileSync(p, Buffer.alloc(200000, 'a'));
const whole = fs.createReadStream(p);
whole.on('data', (c) => console.log('whole data', c.length));
whole.on('end', () => console.log('whole end'));
whole.on('close', () => {
  console.log('whole close');
  const part = fs.createReadStream(p, { start: 10, end: 99, highWaterMark: 32 });
  part.on('data', (c) => console.log('part data', c.length));
  part.on('end', () => console.log('part end'));
  part.on('close', () => { console.log('part close'); fs.unlinkSync(p); });
});
