# The images compose.yaml builds: "app" (hall serve / hall worker) and "proxy" (nginx
# with the app's static files). No internet at run time: everything is in the image.
FROM python:3.11-slim-bookworm AS app
RUN apt-get update \
 && apt-get install -y --no-install-recommends libespeak-ng1 espeak-ng \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /srv/hall
COPY pyproject.toml README.md ./
COPY hall hall
COPY ticketing ticketing
COPY displays displays
COPY tide tide
COPY voice voice
RUN pip install --no-cache-dir . \
 && useradd --system --uid 10001 hall \
 && mkdir -p /data && chown hall /data
USER hall
ENV HALL_DATA=/data HALL_LOG_FORMAT=json PYTHONUNBUFFERED=1
EXPOSE 8000
STOPSIGNAL SIGTERM
CMD ["hall", "serve", "--host", "0.0.0.0", "--port", "8000", "--no-worker"]

FROM nginx:1.27-alpine AS proxy
COPY displays/static /srv/static
COPY deploy/nginx.conf /etc/nginx/hall.conf
EXPOSE 8080
