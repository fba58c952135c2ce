# mleray: the two set-up commands of the README are `make demo` and `make test`.
# Every target installs what it needs, so each works on a fresh machine.

PYTHON ?= python3
PIP ?= $(PYTHON) -m pip
RESULTS ?= results/demo
LLM_RESULTS ?= results/llm-sweep
PYTEST_ARGS ?=
export RAY_AUTH_MODE ?= disabled

.PHONY: install docker images prepare demo llm-demo lint test test-fast clean

install:  ## the package and its test dependencies, editable
	$(PIP) install -q -e '.[test]'
	@# bytecode written once: where PYTHONDONTWRITEBYTECODE is set, every process (each
	@# trial's Ray worker among them) would compile mleray's modules again, ~0.1 CPU-s each
	$(PYTHON) -m compileall -q mleray

docker:  ## Debian's Docker engine, started when none answers
	bash scripts/setup-docker.sh

images: docker install  ## base and built-in agent images, skipped when already built
	bash scripts/build-images.sh

prepare: install  ## the built-in competitions (offline)
	mleray prepare --split builtin

demo: images prepare  ## the main job: a real local sweep, then its report
	mleray sweep examples/builtin-sweep.yaml --results $(RESULTS) --num-gpus 2
	mleray status $(RESULTS)
	mleray report $(RESULTS) --out $(RESULTS)/report
	@echo "results: $(RESULTS)  (load with: python3 -c \"import mleray.results as r; print(r.load('$(RESULTS)'))\")"

lint: install  ## ruff: the formatter's check and the linter, as configured in pyproject.toml
	$(PYTHON) -m ruff format --check .
	$(PYTHON) -m ruff check .

llm-demo: images prepare  ## llm-loop through the model gateway against a stub provider, then the key check
	bash scripts/llm-demo.sh $(LLM_RESULTS)

test: images  ## every test, Docker and Ray ones included
	$(PYTHON) -m pytest $(PYTEST_ARGS)

test-fast: install  ## the tests that need neither Docker nor a cluster
	$(PYTHON) -m pytest -m "not docker and not cluster and not slow" $(PYTEST_ARGS)

clean:
	rm -rf results .pytest_cache
