// destroy(err): 'error' then 'close' on the next tick, no 'end'; later
// pushes are ignored.
const { Readable } = require('stream');
const r = new Readable({ read() {} });
r.on('data', (c) => console.log('data', c.toString()));
r.on('end', () => console.log('end'));
r.on('error', (e) => console.log('error', e.message));
r.on('close', () => console.log('close'));
r.push(Buffer.from('a'));
setImmediate(() => {
  r.destroy(new Error('boom'));
  console.log('destroyed', r.destroyed, 'push ->', r.push(Buffer.from('b')));
  process.nextTick(() => console.log('tick'));
});
