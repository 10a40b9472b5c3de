"""Holon MES runtime: ISA-88 recipes executed on MTP equipment over OPC UA."""

__version__ = "0.2.0"

__all__ = ["__version__"]
