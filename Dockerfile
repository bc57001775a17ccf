# syntax=docker/dockerfile:1
# The gateway as a container: built with the Rust toolchain, run from a slim Debian as a
# non-root user. Configuration by mount (/etc/gateway/gateway.toml + the policy beside it) and/or
# environment (GATEWAY_<SECTION>_<KEY>, e.g. GATEWAY_AUTH_ISSUER); see docs/deploy/.
#
# 127.0.0.1 inside a container is the container itself: the repository's gateway.toml
# (upstream http://127.0.0.1:8000) fits a sidecar that shares the backend's network namespace,
# as here; a gateway in its own container names the backend's service instead
# (GATEWAY_UPSTREAM_URL=http://api:8000). docs/deploy/README.md has the table.
#
#   docker build -t gateway .
#   docker build -t saasco-api -f examples/fastapi_app/Dockerfile . && docker run -d --name api -p 8080:8080 saasco-api
#   docker run --rm --network container:api \
#     -v "$PWD/gateway.toml:/etc/gateway/gateway.toml:ro" -v "$PWD/policies:/etc/gateway/policies:ro" \
#     -e GATEWAY_AUTH_ISSUER=https://YOUR_TENANT.auth0.com/ \
#     gateway

FROM rust:1-slim-bookworm AS build
# aws-lc-rs (the one crypto provider) compiles C: a C toolchain, cmake and perl.
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential cmake perl \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# Cache mounts keep the registry and target between builds without baking them into a layer.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin gateway \
 && install -D -m 0755 target/release/gateway /out/gateway

FROM debian:bookworm-slim AS runtime
# ca-certificates: the JWKS and the upstream may be https. curl: only for HEALTHCHECK (the
# runtime has no other HTTP client; a built-in `gateway healthcheck` would let it go).
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 gateway \
 && useradd --system --uid 10001 --gid gateway --no-create-home --shell /usr/sbin/nologin gateway \
 && mkdir -p /etc/gateway
COPY --from=build /out/gateway /usr/local/bin/gateway

# The config and its policy file are mounted here (docs/deploy/ has container-ready examples).
# The data plane must listen on 0.0.0.0:8080 to be reachable from outside the container; the
# admin listener needs 0.0.0.0:9901 only when probes or scrapes come from outside (HEALTHCHECK
# runs inside). Keep 9901 off any public Service: /metrics describes the deployment.
ENV GATEWAY_CONFIG=/etc/gateway/gateway.toml
USER 10001:10001
EXPOSE 8080 9901
HEALTHCHECK --interval=10s --timeout=2s --start-period=5s --retries=3 \
  CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:9901/healthz"]
ENTRYPOINT ["/usr/local/bin/gateway"]
CMD ["serve"]
