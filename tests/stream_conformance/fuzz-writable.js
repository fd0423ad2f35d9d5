// Differential fuzz cases for Writable. Each line of fuzz-writable.ops is
// one case: "hwm=H mode=M obj=0|1" (obj: objectMode) then ops separated by spaces. Mode: sync (the
// write completes inside _write), imm (in a setImmediate), manual (op k).
//   wN write N bytes with a callback | xN write N bytes, no callback
//   n end() with a callback | c cork | uc uncork | k complete the oldest
//   outstanding write (manual) | f fail the oldest outstanding write
//   i continue in setImmediate | t continue in nextTick | d destroy()
const { Writable } = require('stream');
const fs = require('fs');
const path = require('path');
const lines = fs.readFileSync(path.join(__dirname, 'fuzz-writable.ops'), 'utf8').trim().split('\n');
const code = (e) => (e ? (e.code || e.message) : 'ok');
function runCase(k, line, next) {
  console.log(`=== case ${k}`);
  const [h, m, objFlag, ...ops] = line.trim().split(/\s+/);
  const objectMode = objFlag === 'obj=1';
  const hwm = Number(h.split('=')[1]);
  const mode = m.split('=')[1];
  let letter = 0;
  const bytes = (n) => {
    let s = '';
    for (let j = 0; j < n; j++) s += String.fromCharCode(97 + (letter++ % 26));
    return Buffer.from(s);
  };
  const pending = [];
  const w = new Writable({ highWaterMark: hwm, objectMode, write(c, e, cb) {
    console.log('_write', c.toString());
    if (mode === 'sync') cb();
    else if (mode === 'imm') setImmediate(cb);
    else pending.push(cb);
  } });
  for (const ev of ['drain', 'prefinish', 'finish', 'close']) w.on(ev, () => console.log(ev, w.writableLength));
  w.on('error', (e) => console.log('error', code(e)));
  let i = 0;
  let wid = 0;
  function step() {
    while (i < ops.length) {
      const op = ops[i++];
      if (op === 'i') return setImmediate(step);
      if (op === 't') return process.nextTick(step);
      if (op[0] === 'w') { const id = wid++; const n = Number(op.slice(1)); const ret = w.write(bytes(n), (e) => console.log('cb', id, code(e))); console.log('write', id, '->', ret, 'len', w.writableLength, 'needDrain', w.writableNeedDrain); }
      else if (op[0] === 'x') { const id = wid++; const n = Number(op.slice(1)); const ret = w.write(bytes(n)); console.log('write', id, '->', ret, 'len', w.writableLength); }
      else if (op === 'n') { w.end((e) => console.log('end cb', code(e))); console.log('ended', w.writableEnded, w.writableFinished); }
      else if (op === 'c') w.cork();
      else if (op === 'uc') w.uncork();
      else if (op === 'k') { const cb = pending.shift(); if (cb) { console.log('complete'); cb(); } }
      else if (op === 'f') { const cb = pending.shift(); if (cb) { console.log('fail'); cb(new Error('EIO')); } }
      else if (op === 'd') { w.destroy(); console.log('destroyed'); }
    }
    // Let the case settle (imm-mode writes finish one per loop turn) before
    // the next case starts.
    let turns = 60;
    (function settle() { if (turns-- > 0) setImmediate(settle); else next(); })();
  }
  step();
}
let k = 0;
(function nextCase() { if (k < lines.length) { const line = lines[k]; runCase(k++, line, nextCase); } })();
