# Multi-stage build: one small static image holding every binary (worker,
# dashboard, enqueue, campaign, demo, bench, sinchsim), run by name:
#   docker build -t sinch-dispatch .
#   docker run --rm sinch-dispatch worker --help
FROM golang:1.26-bookworm AS build
WORKDIR /src
# Dependencies first: this layer is reused until go.mod or go.sum change.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# Static binaries (no cgo): the final image has no libc. -trimpath keeps
# build paths out; -s -w drops debug info.
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/ ./cmd/...

# distroless/static: CA certificates (Sinch is HTTPS), a nonroot user and
# nothing else, not even a shell. Zone data is embedded in the binaries.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ /usr/local/bin/
ENV PATH=/usr/local/bin:/usr/bin:/bin
USER nonroot:nonroot
# No entrypoint: the command names the binary (see docker-compose.yml).
ENTRYPOINT []
