"""Redis key names of one hall; all share the hash tag ``{hall}``, so scripts run on a cluster.

    hall:{h}:events              stream   the hall's event stream (hall/events.py)
    hall:{h}:t:<id>              hash     ticket: ver, status, json
    hall:{h}:w:<n>               hash     window state: ver, json
    hall:{h}:q:<letter>          zset     waiting tickets of a queue, by order key
    hall:{h}:direct:<n>          zset     tickets transferred to window n, by order key
    hall:{h}:day:<d>:counters    hash     queue letter -> last number issued on day d
    hall:{h}:day:<d>:numbers     hash     ticket number -> ticket id, day d
    hall:{h}:day:<d>:tickets     zset     ticket ids issued on day d, by issue time
    hall:{h}:svc:<letter>        list     recent service durations of a queue (seconds)
    hall:{h}:calls               list     the latest calls (JSON), newest first
    hall:{h}:w:<n>:last_done     string   id of the last ticket finished at window n (rating pad)
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HallKeys:
    hall: str

    @property
    def prefix(self) -> str:
        return f"hall:{{{self.hall}}}"

    @property
    def events(self) -> str:
        return f"{self.prefix}:events"

    @property
    def notices(self) -> str:
        """Hash: notice id → JSON of the notices a manager posted (displays/notices.py)."""
        return f"{self.prefix}:notices"

    def ticket(self, ticket_id: str) -> str:
        return f"{self.prefix}:t:{ticket_id}"

    def window(self, number: int) -> str:
        return f"{self.prefix}:w:{number}"

    def queue(self, letter: str) -> str:
        return f"{self.prefix}:q:{letter}"

    def direct(self, number: int) -> str:
        return f"{self.prefix}:direct:{number}"

    def day_counters(self, day: str) -> str:
        return f"{self.prefix}:day:{day}:counters"

    def day_numbers(self, day: str) -> str:
        return f"{self.prefix}:day:{day}:numbers"

    def day_tickets(self, day: str) -> str:
        return f"{self.prefix}:day:{day}:tickets"

    def service_times(self, letter: str) -> str:
        return f"{self.prefix}:svc:{letter}"

    @property
    def recent_calls(self) -> str:
        return f"{self.prefix}:calls"

    def last_done(self, number: int) -> str:
        return f"{self.prefix}:w:{number}:last_done"
