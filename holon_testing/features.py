"""The runtime's feature flags for tests that exercise the whole runtime.

A runtime serves only what its module kind and ``HOLON_FEATURE_*`` flags switch on
(``mes_runtime.api.features``), all off by default. Behaviour tests of the UI, recipe
approval (electronic signatures) and review by exception run a runtime with these on;
``tests/mes_runtime/api/test_features.py`` tests each flag on and off.
"""

from __future__ import annotations

__all__ = ["EVERY_FEATURE", "EVERY_FEATURE_ENV"]

#: ``Settings`` keyword arguments switching on every implemented optional capability but
#: metrics (which opens a port of its own; its tests switch it on themselves).
EVERY_FEATURE: dict[str, bool] = {
    "feature_ui": True,
    "feature_review_by_exception": True,
    "feature_electronic_signatures": True,
}

#: The same as ``HOLON_*`` environment variables, for a runtime process.
EVERY_FEATURE_ENV: dict[str, str] = {
    "HOLON_" + name.upper(): "true" if on else "false" for name, on in EVERY_FEATURE.items()
}
