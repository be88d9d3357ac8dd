# Every alephbeth image, from the repository root (the Kubernetes manifests run them):
#   docker compose build                                   front, aleph, beth, loader, and the builder
#   docker build --build-arg SERVICE=beth -t localhost:32000/beth:0.1 .
#   docker buildx build --platform linux/amd64,linux/arm64 --build-arg SERVICE=beth \
#     -t localhost:32000/beth:0.1 --push .                 (several architectures at once)
# The slides' own `cd beth && docker build .` uses beth/Dockerfile, on top of the builder stage
# below, which `docker compose build` tags as localhost:32000/alephbeth-builder.
#
# No "# syntax" line and no RUN --mount: the classic builder (Compose v1) and BuildKit alike
# build it, and every service's image shares the builder stage's cache.
ARG RUST_IMAGE=rust:1.95-slim-bookworm

# The builder: the dependencies, then the shared crates, compiled once for every service.
FROM ${RUST_IMAGE} AS builder
WORKDIR /src
# 1. The dependencies, from the manifests alone (empty crates stand in for ours).
COPY Cargo.toml Cargo.lock ./
COPY shared/Cargo.toml shared/
COPY backend/Cargo.toml backend/
COPY front/Cargo.toml front/
COPY aleph/Cargo.toml aleph/
COPY beth/Cargo.toml beth/
COPY loader/Cargo.toml loader/
COPY testkit/Cargo.toml testkit/
COPY release-checks/Cargo.toml release-checks/
RUN for crate in shared backend front aleph beth loader testkit release-checks; do mkdir -p $crate/src && : > $crate/src/lib.rs; done \
 && for bin in front aleph beth loader; do echo 'fn main() {}' > $bin/src/main.rs; done \
 && cargo build --release --locked -p front -p aleph -p beth -p loader
# 2. The shared crates.
COPY shared shared
COPY backend backend
RUN touch shared/src/lib.rs backend/src/lib.rs \
 && cargo build --release --locked -p front -p aleph -p beth -p loader
COPY docker/build-service /usr/local/bin/build-service

# 3. One service (SERVICE): only its own crate compiles here.
FROM builder AS build
ARG SERVICE
COPY ${SERVICE} ${SERVICE}
RUN build-service ${SERVICE}

# The image: the binary and the libraries it loads, nothing else (no shell, no package manager).
FROM scratch
COPY --from=build /runtime /
# A numeric user, so Kubernetes' runAsNonRoot can verify it.
# The binary under its own name is on PATH: kubectl exec ... -- loader ...
ENV PATH=/usr/local/bin
USER 10001:10001
EXPOSE 8080 8000
# The binary checks its own /healthz: no curl in the image.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 CMD ["/app/service", "healthcheck"]
ENTRYPOINT ["/app/service"]
