"""Validates a DCAT-AP JSON-LD document against the official DCAT-AP 3 SHACL shapes.

Usage: dcat_shacl.py DOCUMENT.jsonld

Prints `conforms <datasets>` and exits 0 when the document is valid JSON-LD and conforms
to the shapes; otherwise prints pyshacl's report and exits 1. pyshacl and rdflib come
from PyPI, installed by scripts/setup.sh.
"""

import pathlib
import sys

import pyshacl
import rdflib

SHAPES = pathlib.Path(__file__).parent / "shapes" / "dcat-ap-3.0.0-SHACL.ttl"
DCAT = rdflib.Namespace("http://www.w3.org/ns/dcat#")


def main() -> int:
    data = rdflib.Graph()
    data.parse(sys.argv[1], format="json-ld")
    shapes = rdflib.Graph()
    shapes.parse(SHAPES, format="turtle")
    conforms, _, report = pyshacl.validate(
        data, shacl_graph=shapes, inference="none", abort_on_first=False
    )
    datasets = len(set(data.subjects(rdflib.RDF.type, DCAT.Dataset)))
    if conforms and datasets > 0:
        print(f"conforms {datasets}")
        return 0
    print(report if not conforms else "no dcat:Dataset in the document")
    return 1


if __name__ == "__main__":
    sys.exit(main())
