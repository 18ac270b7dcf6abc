#!/usr/bin/python3
"""Parses Prometheus text (version 0.0.4) from FILE with prometheus_client's
parser, a real one, and prints each sample as NAME LABELS VALUE, labels
sorted as k=v joined by commas ("-" for none). Exit 3 when the text does
not parse, 77 when the parser is not installed."""
import sys

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:
    print("python3-prometheus-client is not installed", file=sys.stderr)
    sys.exit(77)

text = open(sys.argv[1]).read()
try:
    for family in text_string_to_metric_families(text):
        if family.type not in ("counter", "gauge", "histogram"):
            raise ValueError("untyped family " + family.name)
        for s in family.samples:
            labels = ",".join("%s=%s" % kv for kv in sorted(s.labels.items()))
            print(s.name, labels or "-", repr(float(s.value)))
except Exception as e:  # the parser raises ValueError and others
    print("not Prometheus text: %s" % e, file=sys.stderr)
    sys.exit(3)
