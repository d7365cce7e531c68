# nginx serving the built web app and proxying the API to the `api` service
# (docker compose --profile nginx up; config: deploy/nginx.conf). Build context: the
# repository root (docker build -f deploy/web.Dockerfile -t envaudio-web .).
#
# Optional: the API image serves the same web app itself at "/". nginx is for TLS
# termination, caching the static files, or one origin for several services.

# ---------------------------------------------------------------- 1. the web app
# Same steps as stage 1 of the root Dockerfile.
FROM node:20-slim AS web
WORKDIR /build/frontend
COPY frontend/package.json frontend/package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY frontend/ ./
RUN npm run build --silent

# ---------------------------------------------------------------- 2. nginx
FROM nginx:stable-alpine
COPY deploy/nginx.conf /etc/nginx/conf.d/default.conf
COPY --from=web /build/src/envaudio/web/ /usr/share/nginx/html/
EXPOSE 5173
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["wget", "-q", "-O", "/dev/null", "http://127.0.0.1:5173/"]
