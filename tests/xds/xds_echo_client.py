#!/usr/bin/python3
"""A gRPC client in Python (Debian's python3-grpcio) that resolves targets
through xDS: the bootstrap file named by GRPC_XDS_BOOTSTRAP points it at
registryd. Driven by xds_clients_test.py over stdin/stdout, one JSON line
per command (the C++ and Node clients speak the same):

  calls TARGET N DEADLINE_MS   N calls of /echo.Echo/Who on TARGET's channel
                               (made once, kept): {"backends": {name: count},
                               "errors": {code: count}, "first_error": text}
  quit
"""
import collections
import json
import sys

import grpc


def main():
    channels = {}
    for line in sys.stdin:
        words = line.split()
        if words == ["quit"]:
            break
        if len(words) != 4 or words[0] != "calls":
            print(json.dumps({"error": "unknown command"}), flush=True)
            continue
        target, count, deadline_ms = words[1], int(words[2]), int(words[3])
        if target not in channels:
            channels[target] = grpc.insecure_channel(target)
        who = channels[target].unary_unary("/echo.Echo/Who")
        backends, errors, first_error = collections.Counter(), collections.Counter(), ""
        for _ in range(count):
            try:
                backends[who(b"", timeout=deadline_ms / 1000).decode()] += 1
            except grpc.RpcError as error:
                errors[error.code().name] += 1
                first_error = first_error or error.details() or ""
        print(json.dumps({"backends": backends, "errors": errors, "first_error": first_error}), flush=True)


if __name__ == "__main__":
    main()
