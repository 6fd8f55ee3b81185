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

from google.protobuf import descriptor_pb2

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


def descriptors(protoc, root, files):
    with tempfile.NamedTemporaryFile(suffix=".pb") as out:
        subprocess.run([protoc, "-I", root, "--include_imports", "--descriptor_set_out=" + out.name] + files,
                       check=True)
        result = descriptor_pb2.FileDescriptorSet()
        result.ParseFromString(open(out.name, "rb").read())
    messages, enums, services = {}, {}, {}

    def walk(prefix, message):
        messages[prefix + message.name] = message
        for nested in message.nested_type:
            walk(prefix + message.name + ".", nested)
        for enum in message.enum_type:
            enums[prefix + message.name + "." + enum.name] = enum

    for file in result.file:
        prefix = "." + file.package + "."
        for message in file.message_type:
            walk(prefix, message)
        for enum in file.enum_type:
            enums[prefix + enum.name] = enum
        for service in file.service:
            services[prefix + service.name] = service
    return messages, enums, services


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
    ours = descriptors(protoc, protos, ["etcd/etcdserverpb/rpc.proto"])
    with tempfile.TemporaryDirectory() as scratch, tempfile.TemporaryDirectory() as root:
        upstream_dir = upstream_sources(scratch)
        for ours_path, upstream_path in UPSTREAM_FILES.items():
            os.makedirs(os.path.join(root, os.path.dirname(ours_path)), exist_ok=True)
            with open(os.path.join(upstream_dir, upstream_path)) as source:
                text = strip_go_options(source.read())
            with open(os.path.join(root, ours_path), "w") as target:
                target.write(text)
        theirs = descriptors(protoc, root, ["etcd/etcdserverpb/rpc.proto"])

    problems = []
    checked = 0
    our_messages, our_enums, our_services = ours
    their_messages, their_enums, their_services = theirs
    for name, message in our_messages.items():
        upstream = their_messages.get(name)
        if upstream is None:
            problems.append("message %s is not etcd's" % name)
            continue
        fields = {field.number: field for field in upstream.field}
        for field in message.field:
            checked += 1
            other = fields.get(field.number)
            if other is None:
                problems.append("%s: field %d (%s) is not etcd's" % (name, field.number, field.name))
                continue
            for attribute in ("name", "type", "label", "type_name"):
                if getattr(field, attribute) != getattr(other, attribute):
                    problems.append("%s.%s: %s is %r, etcd's is %r" % (name, field.name, attribute,
                                                                     getattr(field, attribute),
                                                                     getattr(other, attribute)))
            in_oneof = field.HasField("oneof_index")
            if in_oneof != other.HasField("oneof_index") or (
                    in_oneof and message.oneof_decl[field.oneof_index].name
                    != upstream.oneof_decl[other.oneof_index].name):
                problems.append("%s.%s: not in the same oneof as etcd's" % (name, field.name))
    for name, enum in our_enums.items():
        upstream = their_enums.get(name)
        if upstream is None:
            problems.append("enum %s is not etcd's" % name)
            continue
        values = {value.name: value.number for value in upstream.value}
        for value in enum.value:
            checked += 1
            if values.get(value.name) != value.number:
                problems.append("%s.%s = %d: etcd's is %r" % (name, value.name, value.number, values.get(value.name)))
    for name, service in our_services.items():
        upstream = their_services.get(name)
        if upstream is None:
            problems.append("service %s is not etcd's" % name)
            continue
        methods = {method.name: method for method in upstream.method}
        for method in service.method:
            checked += 1
            other = methods.get(method.name)
            if other is None:
                problems.append("%s/%s is not etcd's" % (name, method.name))
                continue
            for attribute in ("input_type", "output_type", "client_streaming", "server_streaming"):
                if getattr(method, attribute) != getattr(other, attribute):
                    problems.append("%s/%s: %s differs from etcd's" % (name, method.name, attribute))
    for problem in problems:
        print("MISMATCH", problem)
    print("checked %d fields, enum values and methods of %d messages against etcd's" % (checked, len(our_messages)))
    sys.exit(1 if problems or checked == 0 else 0)


if __name__ == "__main__":
    main()
