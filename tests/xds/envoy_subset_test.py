#!/usr/bin/python3
"""protos/envoy is registryd's own subset of Envoy's xDS API: every service,
method, message, field, oneof and enum value in it must exist in Envoy's
definitions with the same full name, number, type and streaming, or gRPC's
xDS clients would not read what registryd sends. The upstream files are the
ones @grpc/grpc-js-xds bundles (installed from npm at test time by
npm_packages.sh). Their validate.proto is older than their Envoy protos: it
lacks StringRules.ignore_empty (field 26 upstream), which protoc 3.21
refuses to do without, so the test adds it to its copy; validation rules
change no message.

Usage: envoy_subset_test.py NPM_PACKAGES_SH WORK_DIR PROTOC PROTOS_DIR
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "protos"))
import proto_subset  # noqa: E402

# Our files, and upstream files that define what they copy.
OURS = ["envoy/discovery.proto", "envoy/listener.proto", "envoy/http_connection_manager.proto",
        "envoy/router.proto", "envoy/route.proto", "envoy/cluster.proto", "envoy/endpoint.proto"]
UPSTREAM = [
    "envoy/service/discovery/v3/ads.proto",
    "envoy/config/listener/v3/listener.proto",
    "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto",
    "envoy/extensions/filters/http/router/v3/router.proto",
    "envoy/config/route/v3/route.proto",
    "envoy/config/cluster/v3/cluster.proto",
    "envoy/config/endpoint/v3/endpoint.proto",
    "envoy/config/core/v3/health_check.proto",
]
# Where the bundle keeps each tree of definitions.
TREES = {"envoy-api": ["envoy"], "googleapis": ["google"], "xds": ["udpa", "xds"],
         "protoc-gen-validate": ["validate"]}


def upstream_root(node_modules, scratch):
    deps = os.path.join(node_modules, "@grpc", "grpc-js-xds", "deps")
    for tree, tops in TREES.items():
        for top in tops:
            shutil.copytree(os.path.join(deps, tree, top), os.path.join(scratch, top))
    validate = os.path.join(scratch, "validate", "validate.proto")
    text = open(validate).read()
    if "ignore_empty" not in re.search(r"message StringRules \{.*?\n\}", text, re.S).group(0):
        text = text.replace("message StringRules {", "message StringRules {\n  optional bool ignore_empty = 26;", 1)
        open(validate, "w").write(text)
    return scratch


def main():
    npm_packages, work_dir, protoc, protos = sys.argv[1:5]
    here = os.path.dirname(os.path.abspath(__file__))
    work = subprocess.run(["bash", npm_packages, here, work_dir], check=True, stdout=subprocess.PIPE,
                          text=True).stdout.strip()
    node_modules = os.path.join(work, "node_modules")
    ours = proto_subset.descriptors(protoc, [protos, "/usr/include"], OURS)
    with tempfile.TemporaryDirectory() as scratch:
        theirs = proto_subset.descriptors(protoc, [upstream_root(node_modules, scratch), "/usr/include"], UPSTREAM)
    # Only the subset's own messages: google.protobuf's come from the same files.
    ours = tuple({name: value for name, value in kind.items() if not name.startswith(".google.protobuf.")}
                 for kind in ours)
    problems, checked = proto_subset.compare(ours, theirs, "Envoy's")
    sys.exit(proto_subset.report(problems, checked, len(ours[0]), "Envoy's"))


if __name__ == "__main__":
    main()
