#!/usr/bin/python3
"""protos/etcd is registryd's own subset of etcd's API: every service,
method, message, field and enum value in it must exist in etcd's own
definitions with the same full name, number, type and streaming, or
registryd would not talk to a real etcd. The upstream files come from
Debian's golang-etcd-server-dev (etcd 3.4, the etcd-server registryd runs
against): when it is not installed, its package alone is fetched from
Debian's archive (apt-get download, no root) and unpacked in a temporary
directory, without its 140 Go dependencies. Their Go-only options
(gogoproto) and HTTP annotations are stripped first, which changes no
message.

Usage: etcd_subset_test.py PROTOC PROTOS_DIR
"""
import os
import re
import subprocess
import sys
import tempfile

import proto_subset

UPSTREAM_FILES = {  # path in the subset -> path upstream (under UPSTREAM_DIR)
    "etcd/mvccpb/kv.proto": "mvcc/mvccpb/kv.proto",
    "etcd/etcdserverpb/rpc.proto": "etcdserver/etcdserverpb/rpc.proto",
    "etcd/authpb/auth.proto": "auth/authpb/auth.proto",
}


def strip_go_options(text):
    text = re.sub(r'import "gogoproto/gogo.proto";', "", text)
    text = re.sub(r'import "google/api/annotations.proto";', "", text)
    text = re.sub(r"option \(gogoproto\.[a-z_]+\) = [a-z]+;", "", text)
    text = re.sub(r"\s*\[\(gogoproto\.[^\]]*\]", "", text)
    # rpc ... { option (google.api.http) = { post: "..." additional_bindings { ... } }; } -> rpc ...;
    text = re.sub(r"\{\s*option \(google\.api\.http\) = \{[^{}]*(\{[^{}]*\}[^{}]*)*\};\s*\}", ";", text)
    text = text.replace('import "etcd/mvcc/mvccpb/kv.proto";', 'import "etcd/mvccpb/kv.proto";')
    text = text.replace('import "etcd/auth/authpb/auth.proto";', 'import "etcd/authpb/auth.proto";')
    return text


INSTALLED = "/usr/share/gocode/src/go.etcd.io/etcd"


def upstream_sources(scratch):
    """Where etcd's sources are: installed, or unpacked from the package into `scratch`."""
    if os.path.isdir(INSTALLED):
        return INSTALLED
    os.chmod(scratch, 0o777)  # apt's download user writes there
    subprocess.run(["apt-get", "download", "-q", "golang-etcd-server-dev"], cwd=scratch, check=True)
    deb = [name for name in os.listdir(scratch) if name.endswith(".deb")][0]
    subprocess.run(["dpkg-deb", "-x", os.path.join(scratch, deb), os.path.join(scratch, "root")], check=True)
    return os.path.join(scratch, "root") + INSTALLED


def main():
    protoc, protos = sys.argv[1:3]
    ours = proto_subset.descriptors(protoc, [protos], ["etcd/etcdserverpb/rpc.proto"])
    with tempfile.TemporaryDirectory() as scratch, tempfile.TemporaryDirectory() as root:
        upstream_dir = upstream_sources(scratch)
        for ours_path, upstream_path in UPSTREAM_FILES.items():
            os.makedirs(os.path.join(root, os.path.dirname(ours_path)), exist_ok=True)
            with open(os.path.join(upstream_dir, upstream_path)) as source:
                text = strip_go_options(source.read())
            with open(os.path.join(root, ours_path), "w") as target:
                target.write(text)
        theirs = proto_subset.descriptors(protoc, [root], ["etcd/etcdserverpb/rpc.proto"])

    problems, checked = proto_subset.compare(ours, theirs, "etcd's")
    sys.exit(proto_subset.report(problems, checked, len(ours[0]), "etcd's"))


if __name__ == "__main__":
    main()
