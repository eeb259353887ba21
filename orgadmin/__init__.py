"""The partner organization portal: staff manage customers' Polytomic organizations."""

from __future__ import annotations

__version__ = "0.1.0"
