"""Batch engine: drives control recipes on equipment; talks to the world only through ports."""
