# The pageview service, run through tsx exactly as `npm run service` does outside a container (no build step).
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

USER node
EXPOSE 8080
# `npm run service` so the container follows package.json (e.g. an APM preload flag added there).
CMD ["npm", "run", "service"]
