"""The benchmark: this server beside the reference TAXII servers (medallion, OpenTAXII), the
same data set and workload against each, figures, ratios and correctness checks.

Run `python -m bench --help`."""
