"""Redis keys of the tide controller; all share the hall's hash tag with ticketing's keys.

    hall:{h}:tide:leader      string  the leading controller's token (SET NX PX, renewed)
    hall:{h}:tide:state       hash    ver (bumped by every tide change, the commit guard),
                                      mode (auto | advise | off; absent: the hall file's),
                                      memory (JSON: last change and toggles per window)
    hall:{h}:tide:overrides   hash    window -> manager override (JSON), held until released
    hall:{h}:tide:pending     hash    "<window>:<action>" -> proposed decision (advise mode)
    hall:{h}:tide:decisions   list    the latest decisions and overrides (JSON), newest first
    hall:{h}:tide:plan        string  the latest staffing plan saved by ``hall plan --save``
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TideKeys:
    hall: str

    @property
    def prefix(self) -> str:
        return f"hall:{{{self.hall}}}:tide"

    @property
    def leader(self) -> str:
        return f"{self.prefix}:leader"

    @property
    def state(self) -> str:
        return f"{self.prefix}:state"

    @property
    def overrides(self) -> str:
        return f"{self.prefix}:overrides"

    @property
    def pending(self) -> str:
        return f"{self.prefix}:pending"

    @property
    def decisions(self) -> str:
        return f"{self.prefix}:decisions"

    @property
    def plan(self) -> str:
        return f"{self.prefix}:plan"
