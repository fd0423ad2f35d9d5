// cork() buffers writes until uncork(); end() uncorks.
const { Writable } = require('stream');
const w = new Writable({ write(c, e, cb) { console.log('_write', c.toString()); cb(); } });
w.on('finish', () => console.log('finish'));
w.cork();
w.write(Buffer.from('a'));
w.write(Buffer.from('b'));
console.log('corked', w.writableCorked, 'len', w.writableLength);
w.uncork();
console.log('uncorked');
w.cork();
w.write(Buffer.from('c'));
w.end();
console.log('ended');
