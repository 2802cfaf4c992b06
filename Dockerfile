# syntax=docker/dockerfile:1
# The operator's image: `docker build -t sfb-dr:0.1.0 .` (deploy/ runs it).

# Build: a static binary, linked against musl (Alpine's Rust targets musl, statically by
# default; crt-static makes that explicit). The Rust version is the one Cargo.toml declares.
ARG RUST_VERSION=1.89
FROM rust:${RUST_VERSION}-alpine3.22 AS build
RUN apk add --no-cache musl-dev gcc
WORKDIR /src
COPY . .
ENV RUSTFLAGS="-C target-feature=+crt-static"
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin sfb-dr \
 && install -D -m 0755 target/release/sfb-dr /out/sfb-dr

# Run: Alpine with the OpenSSH client and nothing else added. The PowerShell driver runs `ssh`
# to reach the SfB management server, so a scratch or distroless/static image, which has no
# ssh, would leave only the simulator driver working. ssh refuses to run for a user id with no
# passwd entry, so the non-root user is a real one.
FROM alpine:3.22
RUN apk add --no-cache openssh-client \
 && addgroup -S -g 65532 sfbdr \
 && adduser -S -D -H -u 65532 -G sfbdr -h /tmp -s /sbin/nologin sfbdr
COPY --from=build /out/sfb-dr /usr/local/bin/sfb-dr
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/sfb-dr"]
CMD ["run"]
