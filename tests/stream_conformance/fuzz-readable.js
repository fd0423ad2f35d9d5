// Differential fuzz cases for Readable. Each line of fuzz-readable.ops is
// one case: "hwm=H obj=0|1" (obj: objectMode) then ops separated by spaces:
//   pN push N bytes | e push(null) | rN read(N) | r read() | r0 read(0)
//   ps pause | rs resume | od on('data') | or on('readable')
//   u unshift 1 byte | i continue in setImmediate | t continue in nextTick
//   d destroy()
// Cases run one after another; each prints "=== case K" and its trace.
const { Readable } = require('stream');
const fs = require('fs');
const path = require('path');
const lines = fs.readFileSync(path.join(__dirname, 'fuzz-readable.ops'), 'utf8').trim().split('\n');
const show = (c) => (c === null ? 'null' : c.toString());
function runCase(k, line, next) {
  console.log(`=== case ${k}`);
  const [head, objFlag, ...ops] = line.trim().split(/\s+/);
  const hwm = Number(head.split('=')[1]);
  const objectMode = objFlag === 'obj=1';
  let letter = 0;
  const bytes = (n) => {
    let s = '';
    for (let j = 0; j < n; j++) s += String.fromCharCode(97 + (letter++ % 26));
    return Buffer.from(s);
  };
  const r = new Readable({ highWaterMark: hwm, objectMode, read(n) { console.log('_read', n); } });
  r.on('end', () => console.log('end'));
  r.on('close', () => { console.log('close'); });
  r.on('error', (e) => console.log('error', e.code));
  r.on('pause', () => console.log('pause'));
  r.on('resume', () => console.log('resume'));
  let i = 0;
  function step() {
    while (i < ops.length) {
      const op = ops[i++];
      if (op === 'i') return setImmediate(step);
      if (op === 't') return process.nextTick(step);
      if (op === 'e') console.log('eof ->', r.push(null));
      else if (op[0] === 'p' && op !== 'ps') { const n = Number(op.slice(1)); console.log('push', n, '->', r.push(bytes(n)), 'len', r.readableLength); }
      else if (op === 'r') console.log('read ->', show(r.read()));
      else if (op[0] === 'r' && op !== 'rs') { const n = Number(op.slice(1)); console.log('read', n, '->', show(r.read(n))); }
      else if (op === 'ps') { r.pause(); console.log('paused', r.isPaused()); }
      else if (op === 'rs') { r.resume(); console.log('resumed', r.readableFlowing); }
      else if (op === 'od') r.on('data', (c) => console.log('data', c.toString()));
      else if (op === 'or') r.on('readable', () => console.log('readable', r.readableLength));
      else if (op === 'u') console.log('unshift ->', r.unshift(bytes(1)), 'len', r.readableLength);
      else if (op === 'd') { r.destroy(); console.log('destroyed'); }
    }
    // Let the case's ticks and immediates settle before the next case.
    setImmediate(() => setImmediate(() => setImmediate(next)));
  }
  step();
}
let k = 0;
(function nextCase() { if (k < lines.length) { const line = lines[k]; runCase(k++, line, nextCase); } })();
