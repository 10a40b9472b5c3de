"""MTP (VDI/VDE/NAMUR 2658) equipment over OPC UA: codes, manifests, client, supervision."""
