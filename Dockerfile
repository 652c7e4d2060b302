# rzpgate's container image: a static binary on distroless, run as non-root.
#   docker build --build-arg VERSION=$(git describe --tags --always) -t rzpgate .
# Nothing in this repository's CI builds it; see the README.

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY cmd ./cmd
COPY internal ./internal
ARG VERSION=dev
# CGO off: a static binary that needs no libc in the final image.
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/rzpgate ./cmd/proxy

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/rzpgate /rzpgate
COPY configs/proxy.yaml /etc/rzpgate/proxy.yaml
USER 65532:65532
EXPOSE 8080 9090
ENTRYPOINT ["/rzpgate"]
