# syntax=docker/dockerfile:1
# One image for every process: all-in-one (the default), or the split roles gateway, auth and
# chat chosen by ROLE. The web client is built in and served by all-in-one and the gateway.

FROM node:20-bookworm-slim AS build
WORKDIR /app
RUN npm install -g pnpm@12.4.2
COPY . .
RUN pnpm install --frozen-lockfile \
 && pnpm turbo run typecheck \
 && pnpm --filter @anonchat/web build

FROM node:20-bookworm-slim AS runtime
WORKDIR /app
ENV NODE_ENV=production PORT=8080 HOST=0.0.0.0 DATA_DIR=/data WEB_DIR=/app/apps/web/dist
COPY --from=build /app /app
# Named volumes mounted here start with this owner, so the node user can write the signing key
# (/data) and the generated service secret (/secrets, see docker-compose.yml).
RUN mkdir -p /data /secrets && chown node:node /data /secrets
USER node
EXPOSE 8080
# node runs the TypeScript sources through tsx's loader and receives SIGTERM itself.
CMD ["node", "--import", "./apps/server/node_modules/tsx/dist/loader.mjs", "apps/server/src/main.ts"]
