'use strict';
// A runner for test_user_handlers, on the example Node library.
const fs = require('fs');
const path = require('path');
const { run, PermanentError } = require(path.join(__dirname, '..', '..', '..',
  'examples', 'runners', 'node', 'jobq-runner'));

const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const block = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

run({
  't.ok': (args, job) => ({ args, attempt: job.attempt, pid: process.pid, deadline_ms: job.deadline_ms }),
  't.fail': (args) => {
    throw args.permanent ? new PermanentError(args.message) : new Error(args.message);
  },
  't.sleep': async (args) => {
    await delay(args.ms);
    return { slept: args.ms };
  },
  't.crash': async (args, job) => {
    await delay(args.after_ms);
    if (job.attempt === 1) process.exit(3);
    return { attempt: job.attempt };
  },
  't.hang': (args, job) => {
    if (job.attempt === 1) block(3600 * 1000); // blocks the whole runner
    return { attempt: job.attempt };
  },
  't.garble': (args, job) => {
    if (job.attempt === 1) fs.writeSync(1, 'this is not an answer\n');
    return { attempt: job.attempt };
  },
  't.flood': async (args) => {
    const end = Date.now() + args.ms;
    while (Date.now() < end) {
      fs.writeSync(2, 'flood '.repeat(1000) + '\n');
      await new Promise((resolve) => setImmediate(resolve));
    }
    return { flooded: true };
  },
});
