# syntax=docker/dockerfile:1
#
# etl-medic container image.
#
# Stage 1 compiles the release binary. Dependencies are built in their own
# layer from Cargo.toml and Cargo.lock alone (with an empty main), so that a
# change to src/ recompiles only this crate, not the AWS SDK.
# Stage 2 is distroless: glibc, CA certificates and a non-root user, no shell.
# The builder is Debian 12 (bookworm) like the runtime, so the glibc the
# binary links against is the one it runs on.

FROM rust:1.95.0-bookworm AS builder
# pipefail: a failing sed in the pipe below must fail the build.
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
WORKDIR /build

# Dependency layer: a manifest-only build. cargo refuses a manifest whose
# declared targets have no file, even for `--bin etl-medic`, so every
# [[bench]], [[example]] and [[test]] the manifest declares (and every
# [[bin]] with a path) gets an empty stub, at its `path` or where cargo looks
# by default. The stubs stay for the crate's build below: only src/ is
# replaced. benches/, examples/ and tests/ are not in the build context
# (.dockerignore), and the image needs none of them.
# tests/deploy/check_docker_build.py replays every cargo command here.
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && awk 'BEGIN { dir["bench"] = "benches"; dir["example"] = "examples"; dir["test"] = "tests" } ; \
            function stub() { if (kind != "" && (kind != "bin" || path != "")) print (path != "" ? path : dir[kind] "/" name ".rs"); kind = ""; name = ""; path = "" } ; \
            /^\[/ { stub() } ; \
            /^\[\[(bench|example|test|bin)\]\]/ { kind = $0; gsub(/[][ ]/, "", kind) } ; \
            kind != "" && /^name *=/ { name = $0; sub(/^name *= *"/, "", name); sub(/".*/, "", name) } ; \
            kind != "" && /^path *=/ { path = $0; sub(/^path *= *"/, "", path); sub(/".*/, "", path) } ; \
            END { stub() }' Cargo.toml \
       | while read -r target_file; do mkdir -p "$(dirname "$target_file")" && echo 'fn main() {}' > "$target_file"; done \
    && cargo build --release --locked \
    && rm -rf src

# The crate itself. config/ comes first because the binary embeds
# config/default.toml (include_str!). touch makes cargo rebuild the crate
# although the dummy build left fresher artefacts for the same paths.
COPY config ./config
COPY src ./src
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked --bin etl-medic \
    && install -D -m 0755 target/release/etl-medic /out/etl-medic

FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
LABEL org.opencontainers.image.title="etl-medic" \
      org.opencontainers.image.description="Self-healing agent for AWS Glue"
WORKDIR /app
COPY --from=builder /out/etl-medic /usr/local/bin/etl-medic
# config/ (the shipped policy, and any file passed with --config) is read
# relative to WORKDIR; a deployment overrides keys with
# ETL_MEDIC__SECTION__KEY variables.
COPY --from=builder /build/config ./config
# distroless ":nonroot" is uid/gid 65532; stated explicitly so that scanners
# and Kubernetes runAsNonRoot can see it.
USER 65532:65532
EXPOSE 9090
# No shell in the image: the binary probes its own /healthz.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/usr/local/bin/etl-medic", "healthcheck", "--url", "http://127.0.0.1:9090/healthz"]
# Exec form: etl-medic is PID 1's direct child under ECS's init process (or
# PID 1 itself elsewhere) and receives SIGTERM to drain in-flight incidents.
ENTRYPOINT ["/usr/local/bin/etl-medic"]
CMD ["run"]
