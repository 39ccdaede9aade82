# syntax=docker/dockerfile:1
# One image recipe for the three services: docker build --build-arg SERVICE=order|stock|payment .

FROM node:22-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
COPY apps/order/package.json apps/order/
COPY apps/stock/package.json apps/stock/
COPY apps/payment/package.json apps/payment/
COPY apps/saga-e2e/package.json apps/saga-e2e/
COPY libs/contracts/package.json libs/contracts/
COPY libs/config/package.json libs/config/
COPY libs/observability/package.json libs/observability/
COPY libs/database/package.json libs/database/
COPY libs/kafka/package.json libs/kafka/
COPY libs/service/package.json libs/service/
COPY libs/testing/package.json libs/testing/
RUN npm install --no-audit --no-fund --loglevel=error

FROM deps AS build
COPY . .
RUN NX_DAEMON=false npx nx run-many -t build --projects=order,stock,payment --output-style=static \
 && npm prune --omit=dev --no-audit --no-fund --loglevel=error

FROM node:22-bookworm-slim AS runtime
ARG SERVICE
ENV NODE_ENV=production SERVICE=${SERVICE}
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/libs ./libs
COPY --from=build /app/apps/${SERVICE}/package.json ./apps/${SERVICE}/
COPY --from=build /app/apps/${SERVICE}/dist ./apps/${SERVICE}/dist
USER node
EXPOSE 3000
HEALTHCHECK --interval=5s --timeout=3s --start-period=20s --retries=10 \
  CMD node -e "fetch('http://127.0.0.1:'+process.env.PORT+'/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# exec form through sh so SIGTERM reaches node directly (graceful shutdown)
# a 192 MiB old space: V8 collects before a backlog's garbage takes RSS past 300 MB (see ./dev)
CMD ["sh", "-c", "exec node --max-old-space-size=192 --no-flush-bytecode apps/${SERVICE}/dist/main.js"]
