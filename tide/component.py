"""The tide package as an app component."""

from __future__ import annotations

from hall.component import Component

component = Component("tide")
