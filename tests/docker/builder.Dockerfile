# A builder for Dockerfile.example's first stage, for tests/docker.rs: the cached debootstrap image,
# a C toolchain with glibc's static libraries, and this machine's own Rust toolchain (no other can be
# fetched here), copied into the build context by scripts/install-e2e.sh.
ARG BASE=roothooks-e2e/bookworm
FROM ${BASE}
# the CA bundle of the machine that builds it (scripts/e2e-images.sh puts it in the context)
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc libc6-dev >/dev/null && \
    rm -rf /var/lib/apt/lists/*
COPY toolchain /usr/local/rust
ENV PATH=/usr/local/rust/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
RUN cargo --version && rustc --version
