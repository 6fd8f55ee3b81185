"""Checks a proto subset of registryd's (protos/etcd, protos/envoy) against
the upstream definitions it copies: every service, method, message, field,
oneof and enum value in the subset must exist upstream with the same full
name, number, type and streaming, or registryd would not speak the same wire
format as the real thing. Used by etcd_subset_test.py and
envoy_subset_test.py."""
import subprocess
import tempfile

from google.protobuf import descriptor_pb2


def descriptors(protoc, roots, files):
    """The messages, enums and services (by full name) of `files` and their imports."""
    with tempfile.NamedTemporaryFile(suffix=".pb") as out:
        subprocess.run([protoc] + ["-I" + root for root in roots] +
                       ["--include_imports", "--descriptor_set_out=" + out.name] + files, check=True)
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


def compare(ours, theirs, upstream):
    """Problems (a list of lines) and how many fields, values and methods were checked."""
    problems = []
    checked = 0
    our_messages, our_enums, our_services = ours
    their_messages, their_enums, their_services = theirs
    for name, message in our_messages.items():
        other_message = their_messages.get(name)
        if other_message is None:
            problems.append("message %s is not %s" % (name, upstream))
            continue
        fields = {field.number: field for field in other_message.field}
        for field in message.field:
            checked += 1
            other = fields.get(field.number)
            if other is None:
                problems.append("%s: field %d (%s) is not %s" % (name, field.number, field.name, upstream))
                continue
            for attribute in ("name", "type", "label", "type_name"):
                if getattr(field, attribute) != getattr(other, attribute):
                    problems.append("%s.%s: %s is %r, %s is %r" % (name, field.name, attribute,
                                                                 getattr(field, attribute), upstream,
                                                                 getattr(other, attribute)))
            in_oneof = field.HasField("oneof_index")
            if in_oneof != other.HasField("oneof_index") or (
                    in_oneof and message.oneof_decl[field.oneof_index].name
                    != other_message.oneof_decl[other.oneof_index].name):
                problems.append("%s.%s: not in the same oneof as %s" % (name, field.name, upstream))
    for name, enum in our_enums.items():
        other_enum = their_enums.get(name)
        if other_enum is None:
            problems.append("enum %s is not %s" % (name, upstream))
            continue
        values = {value.name: value.number for value in other_enum.value}
        for value in enum.value:
            checked += 1
            if values.get(value.name) != value.number:
                problems.append("%s.%s = %d: %s is %r" % (name, value.name, value.number, upstream,
                                                          values.get(value.name)))
    for name, service in our_services.items():
        other_service = their_services.get(name)
        if other_service is None:
            problems.append("service %s is not %s" % (name, upstream))
            continue
        methods = {method.name: method for method in other_service.method}
        for method in service.method:
            checked += 1
            other = methods.get(method.name)
            if other is None:
                problems.append("%s/%s is not %s" % (name, method.name, upstream))
                continue
            for attribute in ("input_type", "output_type", "client_streaming", "server_streaming"):
                if getattr(method, attribute) != getattr(other, attribute):
                    problems.append("%s/%s: %s differs from %s" % (name, method.name, attribute, upstream))
    return problems, checked


def report(problems, checked, messages, upstream):
    """Prints the outcome; the exit status: 0 when the subset matches."""
    for problem in problems:
        print("MISMATCH", problem)
    print("checked %d fields, enum values and methods of %d messages against %s" % (checked, messages, upstream))
    return 1 if problems or checked == 0 else 0
