#!/usr/bin/python3
"""What a 3-member etcd commits when writes come in Txns of N operations:
the ceiling of any registry that batches its writes into etcd (registryd's
cluster mode does, docs/PERFORMANCE.md "Cluster"). Starts Debian's etcd as a
3-member cluster on loopback (the cluster tests' harness), every member on
--etcd-cpus, this client on --client-cpus; each Txn puts N/2 new keys and
deletes N/2 old ones, --in-flight Txns at a time, for --seconds per size.

Usage: bench/etcd_txn_ceiling.py --protos protos [--ops 128,32] [--seconds 5]
"""
import argparse
import os
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "interop"))

import grpc  # noqa: E402

import stubs  # noqa: E402
from etcd_cluster import EtcdCluster  # noqa: E402


def cpus(text):
    return {int(cpu) for cpu in text.split(",")}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--etcd", default="/usr/bin/etcd")
    parser.add_argument("--protos", required=True)
    parser.add_argument("--protoc", default="/usr/bin/protoc")
    parser.add_argument("--grpc-python-plugin", default="/usr/bin/grpc_python_plugin")
    parser.add_argument("--ops", default="128,64,32,16", help="operations per Txn, comma-separated")
    parser.add_argument("--in-flight", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--etcd-cpus", default="0")
    parser.add_argument("--client-cpus", default="1")
    args = parser.parse_args()

    out = tempfile.mkdtemp(prefix="etcd_txn_ceiling_")
    pb = stubs.generate(args.protos, args.protoc, args.grpc_python_plugin, out,
                        files=("etcd/mvccpb/kv.proto", "etcd/etcdserverpb/rpc.proto"))
    os.sched_setaffinity(0, cpus(args.etcd_cpus))  # the members inherit it
    etcd = EtcdCluster(args.etcd)
    os.sched_setaffinity(0, cpus(args.client_cpus))
    try:
        kv = pb.rpc_pb2_grpc.KVStub(grpc.insecure_channel(etcd.client_urls[0].replace("http://", "")))
        value = b"v" * 60  # about a StoredInstance's size
        print("ops/Txn  Txns/s  writes/s  (%d in flight, %g s each)" % (args.in_flight, args.seconds))
        for ops in [int(n) for n in args.ops.split(",")]:
            def txn(number):
                request = pb.rpc_pb2.TxnRequest()
                for i in range(ops // 2):
                    key = b"ceiling/%d/%d" % (ops, number * ops + i)
                    request.success.add().request_put.CopyFrom(pb.rpc_pb2.PutRequest(key=key, value=value))
                    if number >= 4:  # keys written 4 Txns earlier go
                        old = b"ceiling/%d/%d" % (ops, (number - 4) * ops + i)
                        request.success.add().request_delete_range.CopyFrom(pb.rpc_pb2.DeleteRangeRequest(key=old))
                return request
            requests = [txn(number) for number in range(400)]
            done = [0]
            lock = threading.Lock()
            deadline = time.monotonic() + args.seconds

            def send(first):
                number = first
                while time.monotonic() < deadline:
                    kv.Txn(requests[number % len(requests)], timeout=30)
                    number += args.in_flight
                    with lock:
                        done[0] += 1

            started = time.monotonic()
            threads = [threading.Thread(target=send, args=(i,)) for i in range(args.in_flight)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.monotonic() - started
            print("%7d  %6.0f  %8.0f" % (ops, done[0] / elapsed, done[0] * ops / elapsed))
    finally:
        etcd.close()


if __name__ == "__main__":
    main()
