// The Node twin of examples/count_stream.rs: a Readable that counts 1..10.
const { Readable } = require('stream');

class Counter extends Readable {
  constructor(opt) {
    super(opt);
    this._max = 10;
    this._index = 1;
  }

  _read() {
    const i = this._index++;
    if (i > this._max) this.push(null);
    else this.push(Buffer.from(String(i), 'ascii'));
  }
}

const counter = new Counter();
counter.on('data', (chunk) => console.log(chunk.toString()));
counter.on('end', () => console.log('end'));
counter.on('close', () => console.log('close'));
