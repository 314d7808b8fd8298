# The supervisor app, compiled: the build stage installs the workspace from the lockfile
# and compiles every package to JavaScript (`pnpm run build`); the image runs
# `node dist/main.js`. tsx is for development only. The processors are those named in
# /app/troupe.config.json (mount your own or set TROUPE_CONFIG).
#   docker build -t troupe .
#   docker run --rm -e TROUPE_AMQP_URL=amqp://guest:guest@rabbitmq:5672 -p 9464:9464 troupe
FROM node:20-bookworm-slim AS build
# better-sqlite3 falls back to a source build when no prebuilt binary matches.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY . .
RUN npx --yes pnpm@10.34.8 install --frozen-lockfile && npx --yes pnpm@10.34.8 run build

FROM node:20-bookworm-slim
# Beyond loopback the inspector needs a token: set TROUPE_INSPECTOR_TOKEN (and drop
# TROUPE_INSPECTOR=off) to see live charts at /inspector.
ENV NODE_ENV=production \
    TROUPE_HTTP_HOST=0.0.0.0 \
    TROUPE_INSPECTOR=off \
    TROUPE_STORE=sqlite:/data/troupe.db
WORKDIR /app
COPY --from=build /app /app
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 9464
HEALTHCHECK --interval=10s --timeout=3s CMD node -e "fetch('http://127.0.0.1:9464/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# SIGTERM drains (see README, Operations); tini-like signal forwarding is not needed
# because node is PID 1's only child: `exec` form hands signals to it directly.
WORKDIR /app/apps/supervisor
CMD ["node", "dist/main.js"]
