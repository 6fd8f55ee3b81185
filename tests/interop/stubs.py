"""Python stubs for the interop tests: protoc + grpc_python_plugin run on the
project's protos into a directory, and the modules imported from there."""
import importlib
import os
import subprocess
import sys
import tempfile
import types
import unittest

SEED_AND_NATIVE = ("registry_service.proto", "discovery_service.proto", "registry/v1/registry.proto")


def generate(protos, protoc, grpc_python_plugin, out_dir, files=SEED_AND_NATIVE):
    """Returns a namespace of the generated modules, named as Python names them
    (registry_service_pb2, ..., registry_pb2 and registry_pb2_grpc for registry/v1)."""
    protos = os.path.abspath(protos)
    cmd = [protoc, "--python_out=" + out_dir, "--grpc_out=" + out_dir,
           "--plugin=protoc-gen-grpc=" + grpc_python_plugin, "-I", protos] + [os.path.join(protos, f) for f in files]
    result = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if result.returncode != 0:
        raise RuntimeError("protoc failed (%d): %s\n%s" % (result.returncode, " ".join(cmd), result.stdout))
    modules = types.SimpleNamespace()
    if out_dir not in sys.path:
        sys.path.insert(0, out_dir)
    for proto in files:
        package = os.path.dirname(proto)
        # "from registry.v1 import registry_pb2" is how a generated _grpc module imports its messages.
        parts = package.split("/") if package else []
        for depth in range(1, len(parts) + 1):
            init = os.path.join(out_dir, *parts[:depth], "__init__.py")
            if not os.path.exists(init):
                open(init, "w").close()
    importlib.invalidate_caches()
    for proto in files:
        module = proto[:-len(".proto")].replace("/", ".")
        name = os.path.basename(proto)[:-len(".proto")]
        setattr(modules, name + "_pb2", importlib.import_module(module + "_pb2"))
        setattr(modules, name + "_pb2_grpc", importlib.import_module(module + "_pb2_grpc"))
    return modules


_kept = []  # the stub directories of generate_for, removed when the interpreter exits


def generate_for(args, prefix, files=SEED_AND_NATIVE):
    """generate() into a directory of its own that lives as long as the test
    process: `args` holds the --protos, --protoc and --grpc-python-plugin a test was given."""
    directory = tempfile.TemporaryDirectory(prefix=prefix)
    _kept.append(directory)
    return generate(args.protos, args.protoc, args.grpc_python_plugin, directory.name, files)


def add_arguments(parser):
    """The flags every interop test that makes its own stubs is given (meson's stub_args)."""
    parser.add_argument("--registryd", required=True)
    parser.add_argument("--protos", required=True)
    parser.add_argument("--protoc", required=True)
    parser.add_argument("--grpc-python-plugin", required=True)


def run_tests(rest):
    """unittest on the arguments the test's own parser left; exits 0 when every test passed."""
    program = unittest.main(argv=[sys.argv[0]] + rest, exit=False, verbosity=2)
    sys.exit(0 if program.result.wasSuccessful() else 1)
