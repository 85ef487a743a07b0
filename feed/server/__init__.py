"""The TAXII 2.1 HTTP server (FastAPI). An edge: nothing else in the package imports it."""
