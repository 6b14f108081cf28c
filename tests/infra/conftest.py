"""The suite's moto server (all AWS APIs on one loopback endpoint), for the emulator test's secret."""

from __future__ import annotations

from tests.fixtures.moto_server import moto_endpoint

__all__ = ["moto_endpoint"]
