#!/usr/bin/env python3
"""Writes a C++ source that holds files as string constants, so that the
dashboard is built into registryd (nothing is read from disk or fetched at
run time). Usage: embed_assets.py OUT.cc NAME=FILE ..."""
import sys


def main():
    out, assets = sys.argv[1], sys.argv[2:]
    lines = ["// Made at build time by embed_assets.py: do not edit.",
             '#include "http/dashboard_assets.h"', "", "namespace registryd::http {", ""]
    for asset in assets:
        name, path = asset.split("=", 1)
        with open(path, encoding="utf-8") as file:
            text = file.read()
        delimiter = "asset"
        while ")" + delimiter + '"' in text:
            delimiter += "_"
        lines.append('extern const std::string_view %s = R"%s(%s)%s";' % (name, delimiter, text, delimiter))
        lines.append("")
    lines.append("}  // namespace registryd::http")
    with open(out, "w", encoding="utf-8") as file:
        file.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
