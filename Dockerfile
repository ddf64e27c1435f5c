# syntax=docker/dockerfile:1
# One image for every role (all-in-one, gateway, auth, chat): the role comes from the environment.

FROM node:20-bookworm-slim AS deps
WORKDIR /app
RUN npm install -g pnpm@12.4.2
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml .npmrc turbo.json ./
COPY tooling/typescript/package.json tooling/typescript/
COPY packages/shared/package.json packages/shared/
COPY packages/db/package.json packages/db/
COPY packages/core/package.json packages/core/
COPY packages/api/package.json packages/api/
COPY packages/rest/package.json packages/rest/
COPY apps/server/package.json apps/server/
RUN pnpm install --frozen-lockfile

FROM deps AS build
COPY . .
RUN pnpm turbo run typecheck build

FROM node:20-bookworm-slim AS runtime
WORKDIR /app
ENV NODE_ENV=production PORT=8080 HOST=0.0.0.0 DATA_DIR=/data
COPY --from=build /app /app
RUN mkdir -p /data && chown node:node /data
USER node
EXPOSE 8080
# tsx runs the TypeScript sources directly; node receives SIGTERM itself (no npm wrapper).
CMD ["node", "apps/server/node_modules/tsx/dist/cli.mjs", "apps/server/src/main.ts"]
