// unshift() puts data back at the front; after 'end' it is an error.
const { Readable } = require('stream');
const r = new Readable({ read() {} });
r.push(Buffer.from('world'));
const c = r.read(2);
console.log('read', c.toString());
r.unshift(Buffer.from('hello '));
r.unshift(c);
console.log('len', r.readableLength);
console.log('read all', r.read().toString());
r.push(null);
r.on('end', () => {
  console.log('end');
  r.unshift(Buffer.from('late'));
});
r.on('error', (e) => console.log('error', e.code));
r.on('close', () => console.log('close'));
r.resume();
