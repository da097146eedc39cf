# syntax=docker/dockerfile:1
#
# A minimal image of socify: one static binary (CGO_ENABLED=0) on distroless
# "static", running as a non-root user, with no shell and no package manager.
#
#   docker build -t socify .
#   docker run --rm -v "$PWD:/work" -w /work socify convert oci-archive:img.tar oci-archive:img-soci.tar
#
# Multi-arch: docker buildx build --platform linux/amd64,linux/arm64 -t socify .
# The build stage runs on the build machine's platform and cross-compiles,
# so no emulation is needed.

ARG GO_VERSION=1.26

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=dev
ARG COMMIT=
WORKDIR /src
# Dependencies first, so source edits do not invalidate the module cache layer.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath \
      -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" \
      -o /out/socify ./cmd/socify

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/socify /usr/local/bin/socify
# distroless "nonroot" is uid 65532 with HOME=/home/nonroot: the zTOC cache
# lives in /home/nonroot/.cache/socify unless --cache-dir says otherwise.
USER 65532:65532
WORKDIR /home/nonroot
ENTRYPOINT ["/usr/local/bin/socify"]
CMD ["--help"]
