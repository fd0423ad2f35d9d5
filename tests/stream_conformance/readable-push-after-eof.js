// push() after push(null) fails the stream with ERR_STREAM_PUSH_AFTER_EOF.
const { Readable } = require('stream');
const r = new Readable({ read() {} });
r.on('error', (e) => console.log('error', e.code));
r.on('close', () => console.log('close'));
r.push(null);
console.log('push ->', r.push(Buffer.from('x')));
