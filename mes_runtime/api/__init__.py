"""HTTP API (FastAPI): one router module per resource; ``app.create_app`` assembles them.

This package deliberately imports nothing at import time, so that ``mes_runtime.api.batches``
can be imported without pulling in the whole application.
"""
