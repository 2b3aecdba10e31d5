"""The RQ worker class of ``hall worker``: speech jobs in-process, every other job forked.

RQ's ``Worker`` forks a work horse per job. For speech that means starting espeak-ng
again for every phrase (it cannot be started before the fork: its synthesis thread does
not survive into the child, and the child hangs). Speech jobs are short and only call
the engine, so this worker runs jobs of the voice queue in its own process, where the
engine stays started, like RQ's ``SimpleWorker``; jobs of other queues (reports) are
forked as usual. Job timeouts still apply (RQ's SIGALRM death penalty).
"""

from __future__ import annotations

import logging
import signal
import time
from typing import Any

from rq import Queue, Worker
from rq.job import Job
from rq.worker import WorkerStatus

from hall.jobs import VOICE_QUEUE
from hall.settings import Settings
from voice.audio import KEEP_UNUSED_DAYS, AudioCache
from voice.synth import SynthesisError, warm_up

log = logging.getLogger("voice.worker")
IN_PROCESS_QUEUES = frozenset({VOICE_QUEUE})


class HallWorker(Worker):
    def work(self, *args: Any, **kwargs: Any) -> bool:
        try:
            warm_up()  # the first call of the day is then as quick as any other
        except SynthesisError as exc:  # speech jobs will fail and say why; reports still run
            log.error("speech engine unavailable: %s", exc)
        cache = AudioCache(Settings.from_env().data_dir)
        removed = cache.prune(KEEP_UNUSED_DAYS * 86400, time.time())
        if removed:
            log.info("audio cache: removed %d file(s) unused for %d days", removed,
                     KEEP_UNUSED_DAYS)
        return bool(super().work(*args, **kwargs))

    def execute_job(self, job: Job, queue: Queue) -> Any:
        if queue.name not in IN_PROCESS_QUEUES:
            return super().execute_job(job, queue)
        execution = self.prepare_execution(job)
        self.perform_job(job, queue, execution)
        self.set_state(WorkerStatus.IDLE)
        return None

    def kill_horse(self, sig: signal.Signals = signal.SIGKILL) -> None:
        # With no horse (an in-process job) RQ would signal pid 0's group: our own.
        if self.horse_pid:
            super().kill_horse(sig)
