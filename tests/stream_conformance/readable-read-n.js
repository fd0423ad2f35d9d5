// read(n) slices and joins byte chunks; it returns null until n bytes are
// buffered, unless the stream ended; reading past the end ends the stream.
const { Readable } = require('stream');
const r = new Readable({ read() {} });
r.push(Buffer.from('abc'));
r.push(Buffer.from('defg'));
console.log('read 2', String(r.read(2)));
console.log('read 3', String(r.read(3)));
console.log('read 5', String(r.read(5)));
r.push(Buffer.from('hi'));
r.push(null);
console.log('read 5 after eof', String(r.read(5)));
console.log('read again', String(r.read()));
r.on('end', () => console.log('end'));
r.on('close', () => console.log('close'));
