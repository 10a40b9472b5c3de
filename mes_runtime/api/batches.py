"""Batches API (create, command, status). Owned by the engine integration; stub for now."""

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1/batches", tags=["batches"])
