# bondiff — two commands set up a fresh machine:
#   make quickstart   venv + install + the whole pipeline on shipped data
#   make test         venv + install + the test suite
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
PIP     = $(PY) -m pip
TORCH  ?= torch==2.13.0
EXTRAS ?= dev,qm9,validate,airflow
STAMP   = $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | sha1sum | cut -c1-12)
PYTEST_ARGS ?=

.PHONY: venv quickstart test unit numeric equivariance integration clean-venv ui train-stretch gpu-pack gpu-stretch gpu-import

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q "$(TORCH)"
	$(PIP) install -q -c constraints.txt -e ".[$(EXTRAS)]"
	rm -f $(VENV)/.installed-*
	touch $@

quickstart: venv
	$(VENV)/bin/bondiff run configs/quickstart.yaml
	@echo "--- the shipped model (pipeline/resources/model), no training: paracetamol and ibuprofen, MMFF-relaxed"
	$(VENV)/bin/bondiff sample --smiles "CC(=O)Nc1ccc(O)cc1 paracetamol" --smiles "CC(C)Cc1ccc(cc1)[C@H](C)C(=O)O ibuprofen" \
	    -n 5 --no-progress --experiment bondiff-quickstart --out bondiff-work/quickstart/shipped_model.sdf

test: venv
	$(PY) -m pytest -q $(PYTEST_ARGS)

unit numeric equivariance integration: venv
	$(PY) -m pytest -q tests/$@ $(PYTEST_ARGS)

# one stretch of a training campaign on data/train (CAMPAIGN v2: configs/train_v2.yaml into training/v2; v3: the
# larger network of configs/train_v3.yaml into training/v3): resumes from the campaign's committed checkpoint
CAMPAIGN    ?= v2
TRAIN_DATA  ?= data/train
TRAIN_DIR   ?= training/$(CAMPAIGN)
TRAIN_PRIOR ?= training/v2-prior
CPU_BUDGET  ?= 7200
train-stretch: venv
	test -f $(TRAIN_PRIOR)/prior.json || $(VENV)/bin/bondiff prior --dataset $(TRAIN_DATA) --out $(TRAIN_PRIOR) --no-track
	$(VENV)/bin/bondiff train -c configs/train_$(CAMPAIGN).yaml --dataset $(TRAIN_DATA) --prior $(TRAIN_PRIOR) --out $(TRAIN_DIR) \
	    $$(test -f $(TRAIN_DIR)/checkpoints/last.pt && echo --resume) --set cpu_budget_s=$(CPU_BUDGET) --experiment bondiff-$(CAMPAIGN)

# a stretch on a lent GPU (docs/training.md, "A stretch on a lent GPU"): pack here, run there, import here
GPU_BUNDLE   ?= build/gpu
GPU_WALL_S   ?= 510
GPU_ATOMS    ?= 16384
GPU_PYTHON   ?= python3
GPU_RETURNED ?=
gpu-pack: venv
	$(VENV)/bin/bondiff gpu pack --dataset $(TRAIN_DATA) --prior $(TRAIN_PRIOR) --checkpoint $(TRAIN_DIR)/checkpoints/last.pt --out $(GPU_BUNDLE)

# on the GPU machine (no venv there, no network: its python3 has torch, e3nn, torch-geometric); OUT is set there
gpu-stretch:
	test -n "$(OUT)" || { echo "gpu-stretch: set OUT (the folder whose files come back)"; exit 2; }
	PYTHONUNBUFFERED=1 $(GPU_PYTHON) -m pipeline.train.gpu_job --bundle $(GPU_BUNDLE) --dataset $(TRAIN_DATA) --out $(OUT) \
	    --wall-s $(GPU_WALL_S) --atom-budget $(GPU_ATOMS)

gpu-import: venv
	test -n "$(GPU_RETURNED)" || { echo "gpu-import: set GPU_RETURNED=<the run's files_at>"; exit 2; }
	$(VENV)/bin/bondiff gpu import --from $(GPU_RETURNED) --into $(TRAIN_DIR) --experiment bondiff-$(CAMPAIGN)

ui: venv
	$(VENV)/bin/bondiff ui

clean-venv:
	rm -rf $(VENV)
