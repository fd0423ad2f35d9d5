// fs.createWriteStream: writes in order, 'finish' after end(), then 'close';
// the file holds what was written.
const fs = require('fs');
const os = require('os');
const path = require('path');
const p = path.join(os.tmpdir(), `nodeloop-fw-${process.pid}.txt`);
const w = fs.createWriteStream(p, { highWaterMark: 4 });
console.log('write ->', w.write('hello'));
w.on('drain', () => console.log('drain'));
w.on('finish', () => console.log('finish'));
w.on('close', () => {
  console.log('close', JSON.stringify(fs.readFileSync(p, 'utf8')));
  fs.unlinkSync(p);
});
w.end(' world');
