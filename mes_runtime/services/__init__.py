"""Application services: what the API asks of the runtime, one module per use case.

A service sits above the engine and the adapters (database, MTP, batch record) and below
the API: ``batches`` creates and starts batches from approved master recipes.
"""
