"""Speech synthesis with pyttsx3 (espeak-ng driver) into WAV bytes, one phrase at a time.

espeak-ng can be initialised once per process and is not thread-safe, so one
``Synthesizer`` per process serialises its work behind a lock. It must be started in
the process that uses it: an engine started before ``fork`` hangs in the child, so the
RQ worker's parent never touches it and each job process starts its own (~30 ms).

**Each segment at its own settings.** pyttsx3 initialises espeak-ng asynchronously: a
rate or volume set through it is only *queued* on espeak-ng's thread, and pyttsx3's
``runAndWait`` calls ``espeak_Cancel`` whenever that thread is still busy; Cancel drops
the queued settings and restores the previous utterance's (so a call came out at another
hall's speed), and a stop left pending in the driver cancelled the next utterance (so a
segment came out empty). Here every segment: waits until espeak-ng is idle, applies its
voice, rate and volume, waits until they are applied and reads them back (confirmed
before synthesis), clears any pending stop, synthesizes, checks that the utterance
completed and the settings are still its own, and checks the audio against a reference
(``voice.quality``: non-empty, audible, within 3 % of the expected length and 5 % of the
expected level). A segment that fails is synthesized again (``ATTEMPTS`` in all); then
``SynthesisError``, and nothing is kept.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import logging
import os
import tempfile
import threading
import time
import wave
from dataclasses import dataclass
from typing import Any

from voice import quality
from voice.phrases import Segment

SAMPLE_RATE = 22050  # what pyttsx3's espeak driver writes
GAP_SECONDS = 0.35  # silence between the languages of one announcement
SYNTH_TIMEOUT_SECONDS = 20.0
IDLE_TIMEOUT_SECONDS = 5.0
ATTEMPTS = 3  # per segment: a failed one is synthesized again, twice at most
log = logging.getLogger("voice.synth")


class SynthesisError(RuntimeError):
    pass


class UnknownVoice(SynthesisError):
    """A voice espeak-ng does not have: a configuration mistake, not worth a retry."""


@dataclass(frozen=True)
class Pcm:
    """Mono 16-bit PCM audio."""

    frames: bytes
    rate: int = SAMPLE_RATE

    @property
    def seconds(self) -> float:
        return len(self.frames) / 2 / self.rate

    def wav(self) -> bytes:
        out = io.BytesIO()
        with wave.open(out, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(self.rate)
            w.writeframes(self.frames)
        return out.getvalue()


@dataclass(frozen=True)
class Settings:
    """What espeak-ng is set to: voice identifier (lower case), rate, volume (0-100)."""

    voice: str
    rate: int
    volume: int


@dataclass
class Stats:
    """Counts of one process's synthesis, for the worker's log and the benchmark."""

    segments: int = 0
    retried: int = 0  # segment attempts that failed a check and were synthesized again
    failed: int = 0  # segments given up after ATTEMPTS


class Synthesizer:
    """Speaks text through pyttsx3 into PCM; one engine per process."""

    _lock = threading.Lock()
    _engine: Any = None
    _errors: list[Exception] = []  # noqa: RUF012 - filled by the engine's error callback
    _finished = threading.Event()  # set by the engine's thread once the WAV file is written
    _completed: list[bool] = []  # noqa: RUF012 - the finished utterance's "completed" flag
    stats = Stats()

    @classmethod
    def engine(cls) -> Any:
        if cls._engine is None:
            import pyttsx3

            try:
                engine = pyttsx3.init("espeak")
            except Exception as exc:  # the engine raises bare RuntimeError/OSError
                raise SynthesisError(f"cannot start espeak-ng through pyttsx3: {exc} "
                                     "(install Debian's libespeak-ng1)") from exc
            engine.connect("error", lambda **kw: cls._errors.append(kw.get("exception")))
            engine.connect("finished-utterance", cls._on_finished)
            cls._engine = engine
        return cls._engine

    @classmethod
    def _on_finished(cls, **kw: Any) -> None:
        cls._completed.append(bool(kw.get("completed", True)))
        cls._finished.set()

    @staticmethod
    def driver() -> Any:
        from pyttsx3.drivers.espeak import EspeakDriver

        return EspeakDriver

    @staticmethod
    def espeak() -> Any:
        from pyttsx3.drivers import _espeak

        return _espeak

    # ---- settle, apply, confirm ---------------------------------------------------------

    def _idle(self) -> None:
        """Wait until espeak-ng's thread has run everything queued (settings included).

        Polled every millisecond: espeak_Synchronize sleeps 20 ms at a time."""
        es = self.espeak()
        deadline = time.monotonic() + IDLE_TIMEOUT_SECONDS
        while es.IsPlaying():
            if time.monotonic() > deadline:
                raise SynthesisError("espeak-ng stayed busy")
            time.sleep(0.001)

    def current(self) -> Settings:
        """espeak-ng's settings now, read from the library (not from pyttsx3's queue)."""
        es = self.espeak()
        get = es.dll.espeak_GetParameter
        get.argtypes, get.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
        voice = es.GetCurrentVoice()
        ident = ""
        if voice and voice.contents.identifier:
            ident = voice.contents.identifier.decode("utf-8", "replace").lower()
        return Settings(ident, int(get(es.RATE, 1)), int(get(es.VOLUME, 1)))

    def _apply(self, voice: str, rate: int, volume: float) -> Settings:
        """Set voice, rate and volume and return them once espeak-ng has confirmed them."""
        # Straight on the driver: the engine's own queue would apply them later, if at all.
        driver = self.driver()
        want = Settings(voice.lower(), rate, round(volume * 100))
        for _ in range(2):
            self._idle()
            try:
                driver.setProperty("voice", voice)
            except ValueError as exc:
                raise UnknownVoice(f"unknown espeak-ng voice {voice!r}") from exc
            driver.setProperty("rate", rate)
            driver.setProperty("volume", volume)
            self._idle()  # the rate and volume are queued on espeak-ng's thread: applied now
            got = self.current()
            if got == want:
                return want
            log.warning("espeak-ng settings not applied (wanted %s, got %s); setting again",
                        want, got)
        raise SynthesisError(f"espeak-ng would not take the settings {want}")

    # ---- one segment ----------------------------------------------------------------------

    def render(self, text: str, voice: str, rate: int, volume: float) -> Pcm:
        """One synthesis through pyttsx3 at confirmed settings; raw, not yet checked."""
        with self._lock:
            engine = self.engine()
            self._errors.clear()
            self._completed.clear()
            fd, path = tempfile.mkstemp(suffix=".wav", prefix="hall-voice-")
            os.close(fd)
            try:
                want = self._apply(voice, rate, volume)
                # A stop left pending in the driver would Cancel this utterance at its start.
                engine.proxy._driver._stopping = False
                self._finished.clear()
                # The driver prints a line per saved file; keep the worker's log clean.
                with contextlib.redirect_stdout(io.StringIO()):
                    engine.save_to_file(text, path)
                    engine.runAndWait()
                    # runAndWait can return before espeak-ng's thread is done: wait until
                    # the driver has written the whole file, and the thread is idle again.
                    finished = self._finished.wait(SYNTH_TIMEOUT_SECONDS)
                    self._idle()
                if self._errors:
                    raise SynthesisError(f"speech engine error: {self._errors[0]}")
                if not finished:
                    raise SynthesisError(f"speech engine did not finish {text!r}")
                if not all(self._completed):
                    raise SynthesisError("the utterance was cancelled")
                after = self.current()
                if after != want:
                    raise SynthesisError(f"settings changed while speaking ({after})")
                with wave.open(path, "rb") as w:
                    if w.getsampwidth() != 2 or w.getnchannels() != 1:
                        raise SynthesisError("unexpected audio format from the engine")
                    return Pcm(w.readframes(w.getnframes()), w.getframerate())
            except (OSError, EOFError, wave.Error) as exc:
                raise SynthesisError(f"the engine wrote no audio for {text!r}: {exc}") from exc
            finally:
                with contextlib.suppress(OSError):
                    os.unlink(path)

    def segment(self, text: str, voice: str, rate: int, volume: float) -> Pcm:
        """Speak one text with one voice; checked against its reference, retried if wrong."""
        ref_proc = quality.reference_start(text, voice, rate, volume)
        ref: quality.Reference | None = None
        problem = "not synthesized"
        try:
            for attempt in range(1, ATTEMPTS + 1):
                try:
                    pcm = self.render(text, voice, rate, volume)
                except UnknownVoice:
                    raise  # a configuration mistake: trying again cannot help
                except SynthesisError as exc:
                    problem = str(exc)
                else:
                    if ref_proc is not None:  # the first rendering that came back
                        ref = quality.reference_finish(ref_proc, pcm.rate)
                        ref_proc = None
                    found = quality.segment_problem(quality.measure(pcm.frames, pcm.rate), ref)
                    if found is None:
                        self.stats.segments += 1
                        return pcm
                    problem = found
                if attempt < ATTEMPTS:
                    self.stats.retried += 1
                    log.warning("segment %r (%s, %d wpm) attempt %d: %s; synthesizing again",
                                text, voice, rate, attempt, problem)
        finally:
            if ref_proc is not None:
                quality.reference_finish(ref_proc, SAMPLE_RATE)
        self.stats.failed += 1
        raise SynthesisError(f"segment {text!r} failed {ATTEMPTS} times: {problem}")

    def speak(self, segments: tuple[Segment, ...], rate: int, volume: float) -> Pcm:
        """All segments of an announcement, in order, with a short pause between them.

        Every segment is checked (``segment``); one that stays wrong fails the whole
        announcement: a half-spoken announcement is never returned."""
        parts: list[bytes] = []
        out_rate = SAMPLE_RATE
        for i, seg in enumerate(segments):
            pcm = self.segment(seg.speech, seg.voice, rate, volume)
            out_rate = pcm.rate
            if i:
                parts.append(b"\x00\x00" * int(GAP_SECONDS * out_rate))
            parts.append(pcm.frames)
        return Pcm(b"".join(parts), out_rate)


def warm_up(voices: tuple[str, ...] = ("sit/cmn-latn-pinyin", "gmw/en")) -> None:
    """Start the engine and load the usual voices' dictionaries before the first call."""
    synth = Synthesizer()
    for voice in voices:
        synth.render("A1", voice, 175, 0.1)
