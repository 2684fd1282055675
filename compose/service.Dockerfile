# The pageview service, started exactly as `npm run service` does outside a container.
# Built from the repository root: docker compose -f compose/docker-compose.yml build service
FROM node:20-bookworm-slim

WORKDIR /app
ENV NODE_ENV=production \
    PORT=8080 \
    HOST=0.0.0.0

# Dependencies first, so a code change does not reinstall them. tsx is a runtime dependency.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

COPY tsconfig.json ./
COPY service ./service
# The service runs from service/src compiled with source maps (service/src/compile.cjs); compiled here, while the
# cache directory is writable, the container's start finds it in place.
RUN node service/src/compile.cjs

USER node
EXPOSE 8080
# `npm run service` so the container follows package.json (e.g. an APM preload flag added there).
CMD ["npm", "run", "service"]
