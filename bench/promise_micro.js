'use strict';
// Node twin of nodeloop's promise micro kinds (examples/micro/promise.rs).
// Usage: node bench/promise_micro.js promise_chain|spawn_await N
// Prints one line: ops=N secs=S ops_per_sec=R (the bench contract).
const kind = process.argv[2];
const n = Number(process.argv[3]);
if (!Number.isInteger(n) || n <= 0) {
  console.error('usage: node promise_micro.js promise_chain|spawn_await N');
  process.exit(2);
}
let t0 = 0n;
function finish() {
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  process.stdout.write(`ops=${n} secs=${secs.toFixed(6)} ops_per_sec=${(n / secs).toFixed(1)}\n`);
}
const benches = {
  // N chained then-reactions, built up front.
  promise_chain() {
    t0 = process.hrtime.bigint();
    let p = Promise.resolve(0);
    for (let i = 0; i < n; i++) p = p.then((v) => v + 1);
    p.then((v) => {
      if (v !== n) throw new Error('wrong count');
      finish();
    });
  },
  // N async-function call + await round trips.
  spawn_await() {
    async function child(i) { return i; }
    async function main() {
      let sum = 0;
      for (let i = 0; i < n; i++) sum += await child(i);
      return sum;
    }
    t0 = process.hrtime.bigint();
    main().then((sum) => {
      if (sum !== (n * (n - 1)) / 2) throw new Error('wrong sum');
      finish();
    });
  },
};
if (!benches[kind]) process.exit(3);
benches[kind]();
