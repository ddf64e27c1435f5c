# syntax=docker/dockerfile:1
# One image for every process: all-in-one (the default), or the split roles gateway, auth and
# chat chosen by ROLE. The web client is built in and served by all-in-one and the gateway.
#
# Two stages: `build` installs everything and compiles (tsc -b for the server and its packages,
# vite for the web client); the final stage holds only the built JavaScript and the server's
# production dependencies (pnpm deploy --prod), with the same paths as in the repository.

FROM node:20-bookworm-slim AS build
WORKDIR /src
ENV TURBO_TELEMETRY_DISABLED=1 DO_NOT_TRACK=1 npm_config_update_notifier=false
RUN npm install -g pnpm@12.4.2
# Dependencies first, from the lockfile alone: this layer is reused until the lockfile changes.
COPY pnpm-lock.yaml pnpm-workspace.yaml .npmrc ./
RUN pnpm fetch
COPY . .
RUN pnpm install --offline --frozen-lockfile \
 && pnpm run build \
 && pnpm --filter @anonchat/server deploy --prod /out/apps/server \
 && mkdir -p /out/apps/web \
 && cp -r apps/web/dist /out/apps/web/dist

FROM node:20-bookworm-slim AS runtime
WORKDIR /app
ENV NODE_ENV=production PORT=8080 HOST=0.0.0.0 DATA_DIR=/data WEB_DIR=/app/apps/web/dist
# Owned by root and read-only to the node user that runs it.
COPY --from=build /out /app
# Named volumes mounted here start with this owner, so the node user can write the signing key
# (/data) and the generated service secret (/secrets, see docker-compose.yml).
RUN mkdir -p /data /secrets && chown node:node /data /secrets
USER node
EXPOSE 8080
# node is PID 1 and receives SIGTERM itself (the server closes gracefully and exits 0).
CMD ["node", "apps/server/dist/main.js"]
