'use strict';
// An example runner: --runner "example.sum_squares,example.greet=node
// examples/runners/node/example.js".
const { run, PermanentError } = require('./jobq-runner');

run({
  'example.sum_squares': (args) => {
    const n = args && args.n;
    if (!Number.isInteger(n) || n < 0) throw new PermanentError('n must be a whole number');
    let sum = 0n;
    for (let i = 0n; i < BigInt(n); i++) sum += i * i;
    // Exact as a number while it fits, else as a decimal string.
    return { sum: sum <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(sum) : sum.toString() };
  },
  'example.greet': async (args, job) => {
    if (!args || !args.name) throw new PermanentError('Missing required field: name');
    return { greeting: `hello ${args.name}`, attempt: job.attempt };
  },
});
