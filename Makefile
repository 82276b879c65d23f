# perfagent: `make test` installs what the tests need and runs every test.
GO ?= go
RACE ?= -race
# Prometheus 3 and its promtool, built by scripts/install-test-deps.sh.
PERFAGENT_PROMETHEUS3_DIR ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/perfagent/prometheus-v0.316.0/bin
export PERFAGENT_PROMETHEUS3_DIR
PROMTOOL2 ?= promtool
PROMTOOL3 ?= $(PERFAGENT_PROMETHEUS3_DIR)/promtool

.PHONY: test deps fmt tidy vet unit rules integration bench generate

test: deps fmt tidy vet unit rules integration

deps:
	./scripts/install-test-deps.sh

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# go.mod and go.sum of every module say exactly what the code needs.
tidy:
	$(GO) mod tidy -diff
	cd integration && $(GO) mod tidy -diff
	cd deploy && $(GO) mod tidy -diff

vet:
	$(GO) vet ./...
	cd integration && $(GO) vet ./...
	cd deploy && $(GO) vet ./...

# deploy's tests include the check that the committed dashboards and rules
# are the generator's output.
unit:
	$(GO) test $(RACE) -timeout 12m ./...
	cd deploy && $(GO) test $(RACE) ./...

# The shipped rules, checked and unit-tested by both promtool versions
# (Prometheus 3 changed range selectors to left-open).
rules:
	$(PROMTOOL2) check rules deploy/prometheus/perfagent-rules.yml
	$(PROMTOOL2) test rules deploy/prometheus/tests/*.yml
	$(PROMTOOL3) check rules deploy/prometheus/perfagent-rules.yml
	$(PROMTOOL3) test rules deploy/prometheus/tests/*.yml

integration:
	cd integration && $(GO) test $(RACE) -timeout 15m ./...

# Rewrites deploy/grafana/*.json and deploy/prometheus/perfagent-*.y*ml.
generate:
	cd deploy && $(GO) generate ./...

# Comparison benchmarks (not part of `make test`): see integration/README.md.
bench:
	cd integration && $(GO) test -run '^$$' -bench . -count 10 ./... | tee ../perf-bench.txt
