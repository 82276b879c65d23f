# perfagent as a container image: a static binary on a distroless base
# (CA certificates for https targets, no shell), e.g. for the load
# generator pods of `perfagent k8s-job`.
#
#   docker build -t registry.example/perfagent:v1 .
#   docker run --rm registry.example/perfagent:v1 version
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/perfagent ./cmd/perfagent

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/perfagent /perfagent
USER nonroot:nonroot
ENTRYPOINT ["/perfagent"]
