# perfagent: `make test` installs what the tests need and runs every test.
GO ?= go
RACE ?= -race

.PHONY: test deps fmt vet unit integration bench

test: deps fmt vet unit integration

deps:
	./scripts/install-test-deps.sh

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...
	cd integration && $(GO) vet ./...

unit:
	$(GO) test $(RACE) -timeout 12m ./...

integration:
	cd integration && $(GO) test $(RACE) -timeout 15m ./...

# Comparison benchmarks (not part of `make test`): see integration/README.md.
bench:
	cd integration && $(GO) test -run '^$$' -bench . -count 10 ./... | tee ../perf-bench.txt
