// Test client for registryd's xDS control plane: Node's @grpc/grpc-js with
// @grpc/grpc-js-xds resolving xds:///SERVICE through the bootstrap file named
// by GRPC_XDS_BOOTSTRAP. Same line protocol as xds_echo_client.cc (see there):
// one JSON line on stdout per command read on stdin; logs go to stderr.
// Run from the npm work dir of npm_packages.sh: node xds_echo_client.mjs
//
// A channel is made on a target's first use and kept until exit: the tests
// check that a live channel follows pushed changes and registryd restarts.

import readline from 'node:readline';
// Both packages are CommonJS: their default export is module.exports.
import grpc from '@grpc/grpc-js';
import grpcXds from '@grpc/grpc-js-xds';

// Adds the xds: scheme (resolver, LB policies) to this process's grpc-js.
grpcXds.register();

const clients = new Map();
// Identity (de)serializers: the request and response are raw bytes.
const identity = (buffer) => buffer;

function who(client, deadlineMs) {
  return new Promise((resolve) => {
    client.makeUnaryRequest('/echo.Echo/Who', identity, identity, Buffer.alloc(0),
      { deadline: Date.now() + deadlineMs }, (error, response) => resolve({ error, response }));
  });
}

async function calls(client, n, deadlineMs) {
  const backends = {};
  const errors = {};
  let firstError = '';
  let failed = 0;
  for (let i = 0; i < n; i++) {
    const { error, response } = await who(client, deadlineMs);
    if (!error) {
      const name = response.toString('utf8');
      backends[name] = (backends[name] ?? 0) + 1;
      continue;
    }
    if (failed++ === 0) firstError = error.details ?? String(error);
    // grpc.status is a TypeScript enum: it maps codes back to their names.
    const code = grpc.status[error.code] ?? `CODE_${error.code}`;
    errors[code] = (errors[code] ?? 0) + 1;
  }
  return `{"backends": ${jsonCounts(backends)}, "errors": ${jsonCounts(errors)}, ` +
    `"first_error": ${JSON.stringify(firstError)}}`;
}

// As the C++ client writes it (keys sorted, ", " and ": "), so both print the
// same bytes for the same tallies.
function jsonCounts(counts) {
  return `{${Object.keys(counts).sort().map((key) => `${JSON.stringify(key)}: ${counts[key]}`).join(', ')}}`;
}

// What the C++ client accepts with std::from_chars on an unsigned type.
const count = /^[0-9]+$/;

async function answer(line) {
  const words = line.trim().split(/\s+/);
  if (words[0] === 'calls' && words.length === 4 && count.test(words[2]) && count.test(words[3]) &&
      Number(words[3]) > 0) {
    const target = words[1];
    let client = clients.get(target);
    if (!client) {
      client = new grpc.Client(target, grpc.credentials.createInsecure());
      clients.set(target, client);
      console.error(`xds_echo_client: new channel for ${target}`);
    }
    return calls(client, Number(words[2]), Number(words[3]));
  }
  return '{"error": "unknown command"}';
}

// One command at a time, in order: the iterator queues lines read meanwhile.
for await (const line of readline.createInterface({ input: process.stdin, crlfDelay: Infinity })) {
  if (line.trim() === 'quit') break;
  // Writes to a pipe are synchronous on Linux: nothing is lost on exit.
  process.stdout.write(await answer(line) + '\n');
}
// The channels would keep the event loop (and the process) alive.
process.exit(0);
