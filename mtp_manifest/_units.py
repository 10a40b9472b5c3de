"""2658 unit codes (``VUnit``) to the unit names Holon uses.

VDI/VDE/NAMUR 2658-3 codes a unit as an integer from the unit list of the PROFIBUS PA /
FDI profiles (2658-3 lists the frequent ones). Holon's recipes and capabilities name
units in text (``degC``, ``rpm``), so an imported code is turned into that name; a code
not in this table is kept as ``unit code N`` and reported by the reader, never guessed.
"""

from __future__ import annotations

__all__ = ["UNIT_NAMES", "unit_name"]

UNIT_NAMES: dict[int, str] = {
    1000: "K",
    1001: "degC",
    1002: "degF",
    1005: "deg",
    1010: "m",
    1013: "mm",
    1023: "m2",
    1038: "L",
    1041: "hL",
    1054: "s",
    1058: "min",
    1059: "h",
    1060: "d",
    1061: "m/s",
    1077: "Hz",
    1082: "1/s",
    1083: "rpm",
    1088: "kg",
    1092: "t",
    1105: "g/L",
    1120: "N",
    1130: "Pa",
    1133: "kPa",
    1137: "bar",
    1138: "mbar",
    1190: "kW",
    1209: "A",
    1211: "mA",
    1240: "V",
    1342: "%",
    1349: "m3/h",
    1353: "L/h",
    1384: "mol",
    1422: "pH",
}


def unit_name(code: int) -> str | None:
    """The name of a 2658 unit code, or ``None`` when the code is not known here."""
    return UNIT_NAMES.get(code)
