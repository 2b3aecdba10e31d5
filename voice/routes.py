"""Audio served by the app: the chime and the cached announcements (``/audio/<sha256>.wav``)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from hall.errors import NotFound
from hall.services import services
from voice.audio import AUDIO, FILE_RE, chime_wav

# Content-addressed: a name always means the same bytes, so browsers may keep them.
IMMUTABLE = {"Cache-Control": "public, max-age=31536000, immutable"}


async def chime(request: Request) -> Response:
    return Response(chime_wav(), media_type="audio/wav",
                    headers={"Cache-Control": "public, max-age=86400"})


async def audio(request: Request) -> Response:
    name = str(request.path_params["name"])
    match = FILE_RE.fullmatch(name)  # the only names there are: no paths, no dots
    if match is None:
        raise NotFound(f"no audio named '{name[:80]}'", code="audio_not_found")
    cache = services(request).get(AUDIO)
    path = cache.path(match.group(1))
    if not path.is_file():
        raise NotFound("that announcement is not synthesized (yet)", code="audio_not_found")
    return FileResponse(path, media_type="audio/wav", headers=IMMUTABLE)


routes = [
    Route("/audio/chime.wav", chime, methods=["GET"]),
    Route("/audio/{name}", audio, methods=["GET"]),
]
