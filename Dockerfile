# syntax=docker/dockerfile:1
# icg-bff: the payment proxy on Node 24 LTS, production dependencies only, as the non-root user `node`.
# Built and run for real by `npm run test:image` (test/image/, buildah without a daemon).
#
# Stop timeout: Docker's default (10 s) is shorter than one pay (PAY_DEADLINE_MS, 25 s). On SIGTERM
# the service keeps serving for SHUTDOWN_DELAY_MS (5 s in production), waits for the pays in flight
# (up to PAY_DEADLINE_MS), drains connections (up to SHUTDOWN_DRAIN_MS, 10 s) and stores the last
# answers (up to 5 s): SHUTDOWN_DELAY_MS + PAY_DEADLINE_MS + SHUTDOWN_DRAIN_MS + 5 s = 45 s with the
# defaults. Configure 60 s: `docker run --stop-timeout 60`, compose `stop_grace_period: 60s`,
# Kubernetes `terminationGracePeriodSeconds: 60`. A SIGKILL sooner can cut off a pay that iCG is
# charging: the client gets no answer and the outcome is unknown.

# Build stage: every dependency, the sandbox package (root's TypeScript needs its types), compile.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
COPY packages/icg-sandbox/package.json ./packages/icg-sandbox/
RUN --mount=type=cache,target=/root/.npm,sharing=locked npm ci --no-audit --no-fund --ignore-scripts --prefer-offline
COPY tsconfig.json tsconfig.base.json tsconfig.build.json ./
COPY packages/icg-sandbox/tsconfig.json ./packages/icg-sandbox/
COPY packages/icg-sandbox/src ./packages/icg-sandbox/src
COPY src ./src
RUN npm run build

# Runtime stage: production dependencies and the compiled service only. No packages/ here, and
# --workspaces=false so npm links no workspace package (node_modules/@icg-bff/icg-sandbox) either.
# npm's cache is a build cache mount (shared by both stages and later builds), never an image layer.
FROM node:24-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm,sharing=locked npm ci --omit=dev --workspaces=false --no-audit --no-fund --ignore-scripts --prefer-offline
COPY --from=build /app/dist ./dist
COPY config/*.json ./config/
USER node
EXPOSE 8080
# Liveness of the public listener, wherever HOST puts it. HOST and PORT as the service reads them:
# the environment (plus ENV_FILE, or ./.env outside production, as the service loads them), then
# config/<NODE_ENV>.json, then 0.0.0.0 and 8080. A wildcard address (0.0.0.0, ::) is probed on
# loopback, any other address as it is: a fixed 127.0.0.1 would be refused when HOST is a specific
# address. Not the admin listener: ADMIN_PORT=auto may move it, and it would not show that the public
# listener serves. Plain http.get with its own agent: no proxy variable can divert the probe.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 CMD ["node", "-e", "\
  const fs = require('fs'), e = process.env; \
  const envFile = e.ENV_FILE || (e.NODE_ENV === 'production' ? '' : '.env'); \
  try { if (envFile) process.loadEnvFile(envFile); } catch {} \
  const nodeEnv = e.NODE_ENV || 'development'; \
  let f = {}; \
  try { if (/^[a-z]+$/.test(nodeEnv)) f = JSON.parse(fs.readFileSync('/app/config/' + nodeEnv + '.json', 'utf8')); } catch {} \
  const v = (k, d) => e[k] || (f[k] != null && f[k] !== '' ? String(f[k]) : d); \
  let host = v('HOST', '0.0.0.0').replace(/^\\[(.*)\\]$/, '$1'); \
  if (host === '0.0.0.0' || host === '::') host = '127.0.0.1'; \
  require('http').get({ host, port: v('PORT', '8080'), path: '/healthz', agent: false, timeout: 2500 }, \
    (r) => process.exit(r.statusCode === 200 ? 0 : 1)) \
    .on('timeout', () => process.exit(1)).on('error', () => process.exit(1));"]
STOPSIGNAL SIGTERM
CMD ["node", "--max-semi-space-size=8", "--heap-growing-percent=30", "dist/main.js"]
