"""MtpEquipment fails a request only with the port's EquipmentError (the engine catches
nothing broader): the MTP edge's own errors pass as they are, anything the OPC UA stack
raises on the way becomes EquipmentUnavailable with the cause's message."""

from __future__ import annotations

import pytest
from asyncua import ua

from mes_runtime.kernel.codes import ServiceCommand, ServiceState
from mes_runtime.kernel.errors import EquipmentError, EquipmentUnavailable
from mes_runtime.mtp.equipment import _port_errors
from mes_runtime.mtp.errors import CommandNotEnabled, MtpError


def test_an_opc_ua_error_becomes_equipment_unavailable() -> None:
    cause = ua.UaStatusCodeError(ua.StatusCodes.BadSessionClosed)
    with pytest.raises(EquipmentUnavailable) as raised, _port_errors():
        raise cause
    assert raised.value.__cause__ is cause
    assert str(raised.value) == str(cause)


def test_a_dropped_socket_becomes_equipment_unavailable() -> None:
    with pytest.raises(EquipmentUnavailable, match="reset by peer"), _port_errors():
        raise ConnectionResetError("connection reset by peer")


def test_the_edges_own_errors_pass_unchanged() -> None:
    refused = CommandNotEnabled("BR-101", "Dosing", ServiceCommand.START, ServiceState.EXECUTE)
    with pytest.raises(CommandNotEnabled) as raised, _port_errors():
        raise refused
    assert raised.value is refused
    assert isinstance(refused, MtpError)
    assert isinstance(refused, EquipmentError)
