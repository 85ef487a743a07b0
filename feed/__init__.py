"""A TAXII 2.1 feed of flagged cryptocurrency addresses."""
