"""Certificates made at test time with openssl: a CA and what it signs."""
import os
import subprocess


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


class Authority:
    """A CA and the certificates it signs, as PEM files in `directory`."""

    def __init__(self, directory, name):
        self.directory = directory
        self.name = name
        self.cert = self.path(name + ".crt")
        self.key = self.path(name + ".key")
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", self.key, "-out", self.cert, "-days", "2", "-subj", f"/CN={name}")

    def path(self, file):
        return os.path.join(self.directory, file)

    def issue(self, name, san=None, cn=None):
        """A key and a certificate for `name` (its files' name); returns (cert,
        key). `san`: the subjectAltName ("URI:spiffe://...,DNS:host", "IP:...");
        None: a certificate without one, named by its subject CN alone.
        `cn`: the subject CN (default `name`)."""
        key, request, cert = (self.path(f"{name}.{ext}") for ext in ("key", "csr", "crt"))
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key,
                "-out", request, "-subj", f"/CN={cn or name}")
        extensions = self.path(f"{name}.ext")
        with open(extensions, "w") as file:
            # Without a SAN, still an X.509 v3 end-entity certificate.
            file.write(f"subjectAltName={san}\n" if san is not None else "basicConstraints=critical,CA:FALSE\n")
        openssl("x509", "-req", "-in", request, "-CA", self.cert, "-CAkey", self.key, "-CAcreateserial",
                "-out", cert, "-days", "2", "-extfile", extensions)
        return cert, key
