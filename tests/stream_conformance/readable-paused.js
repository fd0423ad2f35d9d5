// Paused mode: 'readable' is emitted on a tick after data arrives; read()
// drains the buffer; after push(null) a final 'readable' then 'end'.
const { Readable } = require('stream');
const r = new Readable({ read() {} });
r.on('readable', () => {
  console.log('readable', r.readableLength);
  let c;
  while ((c = r.read()) !== null) console.log('read', c.toString());
});
r.on('end', () => console.log('end'));
r.on('close', () => console.log('close'));
r.push(Buffer.from('ab'));
r.push(Buffer.from('cd'));
console.log('pushed', r.readableLength);
setImmediate(() => {
  console.log('immediate');
  r.push(Buffer.from('ef'));
  r.push(null);
  console.log('eof pushed');
});
