"""Writes the JSON schema of each version of a CustomResourceDefinition, as the API server
would validate it (its `openAPIV3Schema`, unchanged), to <out>/<group>/<kind>_<version>.json.

    python deploy/schemas/crd_to_schema.py CRD.yaml [CRD.yaml ...] --out deploy/schemas

tests/unit/test_deploy_manifests.py validates the rendered custom resources against these
files; deploy/schemas/README.md records where each CRD came from.
"""

import argparse
import json
from pathlib import Path

import yaml


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("crds", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent)
    args = parser.parse_args()
    for path in args.crds:
        for crd in yaml.safe_load_all(path.read_text()):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
            for version in crd["spec"]["versions"]:
                target = args.out / group / f"{kind.lower()}_{version['name']}.json"
                target.parent.mkdir(parents=True, exist_ok=True)
                schema = version["schema"]["openAPIV3Schema"]
                target.write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n")
                print(f"{path} -> {target}")


if __name__ == "__main__":
    main()
