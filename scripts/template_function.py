"""Prints `<resource> <timeout s> <memory MB>` of the template.yaml function built from binary ARGV[1].

    template_function.py postback   ->   PostbackFunction 8 128

Reads template.yaml with SAM CLI's own YAML loader (it understands !Ref, !Sub, ...), so
`make invoke` gives a function the timeout and memory it has when deployed.
"""

import pathlib
import sys

from samcli.yamlhelper import yaml_parse


def main() -> None:
    binary = sys.argv[1]
    template = yaml_parse(pathlib.Path(__file__).resolve().parent.parent.joinpath("template.yaml").read_text())
    defaults = template.get("Globals", {}).get("Function", {})
    for name, resource in template["Resources"].items():
        if resource.get("Metadata", {}).get("BuildProperties", {}).get("Binary") == binary:
            props = resource["Properties"]
            print(name, props.get("Timeout", defaults.get("Timeout", 3)), props.get("MemorySize", defaults.get("MemorySize", 128)))
            return
    known = sorted(
        r["Metadata"]["BuildProperties"]["Binary"]
        for r in template["Resources"].values()
        if r.get("Metadata", {}).get("BuildProperties", {}).get("Binary")
    )
    sys.exit(f"no function in template.yaml is built from binary {binary!r}; known: {', '.join(known)}")


if __name__ == "__main__":
    main()
