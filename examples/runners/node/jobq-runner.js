'use strict';
// jobq runner library for Node: no dependencies.
//
// jobq-worker starts this process and keeps it running; it writes one JSON
// request a line on stdin, {"id", "type", "args", "attempt", "deadline_ms"},
// and reads one answer a line from stdout, {"id", "result"} or
// {"id", "error", "permanent"}, in any order. A handler returns its result
// or a promise of it, so many jobs overlap and answer as they finish.
//
//   const { run, PermanentError } = require('./jobq-runner');
//   run({
//     greet: (args, job) => {
//       if (!args || !args.name) throw new PermanentError('Missing required field: name');
//       return { greeting: `hello ${args.name}` };
//     },
//   });
//
// A PermanentError sends the job dead at once; any other failure retries.
// console.log goes to stderr (the worker logs it): stdout is the protocol's.

class PermanentError extends Error {}

function run(handlers) {
  const out = process.stdout;
  console.log = console.error;
  let batch = [];
  // Answers of one turn leave in one write.
  const flush = () => {
    const text = batch.join('\n') + '\n';
    batch = [];
    out.write(text);
  };
  const answer = (msg) => {
    if (batch.push(JSON.stringify(msg)) === 1) setImmediate(flush);
  };
  const handle = (line) => {
    const req = JSON.parse(line);
    const fn = handlers[req.type];
    if (!fn) {
      answer({ id: req.id, error: `no handler for ${req.type}`, permanent: true });
      return;
    }
    let p;
    try {
      p = Promise.resolve(fn(req.args, req));
    } catch (e) {
      p = Promise.reject(e);
    }
    p.then(
      (result) => answer({ id: req.id, result: result === undefined ? null : result }),
      (e) => answer({
        id: req.id,
        error: String((e && e.message) || e || 'failed'),
        permanent: e instanceof PermanentError,
      }),
    );
  };
  let rest = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (chunk) => {
    const lines = (rest + chunk).split('\n');
    rest = lines.pop();
    for (const line of lines) if (line) handle(line);
  });
  // At the end of stdin, Node exits once the jobs in flight have answered.
}

module.exports = { run, PermanentError };
