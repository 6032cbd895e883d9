# The harness pipeline: make preprocess convert infer postprocess TARGET=cpu|nvidia|ascend
# Every stage is idempotent: an unchanged rerun skips finished work, an interrupted one resumes.

# What to run comes from the make command line (or the defaults below), never from the environment: a shell's
# WORK, DATA, MODEL or A (HPC sites export WORK as the user's work file system) would otherwise be used silently,
# and make clean would remove it. Which Python and which simulation (PYTHON, VENV, TF_PYTHON, TF_VENV, ASCEND_SIM,
# ASCEND_SIM_API) may come from either: they choose tools, not what a run measures or where it writes.
SETTINGS := TARGET MODEL CHECKPOINT DATA LABELS CLASSES BS BATCHES PRECISION WORK DEVICE OUTFMT ENGINE SOC MODE \
            OPTIONS LAYOUT OPSET CALIB CALIB_COUNT CALIB_METHOD ACCEPT_MISMATCH TF_MODEL TF_INPUTS TF_OUTPUTS \
            WARMUP LOOP TIME_LIMIT REF_RUN A B COMPARE_OUT PROFILE REPORT_INPUTS REPORT BASELINE IMAGE MATRIX \
            CALIB_COUNTS CALIB_METHODS
FROM_ENVIRONMENT := $(foreach v,$(SETTINGS),$(if $(filter environment,$(origin $(v))),$(v)))
$(foreach v,$(FROM_ENVIRONMENT),$(info make: $(v) from the environment is not used; pass $(v)=... on the make \
command line to set it)$(eval undefine $(v)))

# The stages of one command run one after another, also under make -j (each stage uses the cores itself):
# infer must not read an artifact that convert is still replacing, nor postprocess score outputs infer replaces.
.NOTPARALLEL:

TARGET    ?= cpu
MODEL     ?= efficientnet_lite0
CHECKPOINT ?=
DATA      ?= data/sample
LABELS    ?= $(DATA)/val_label.txt
CLASSES   ?= $(call path_exists,$(DATA)/classes.txt)
BS        ?= 8
BATCHES   ?=
PRECISION ?= fp32
WORK      ?= work
DEVICE    ?= 0
OUTFMT    ?= TXT
ENGINE    ?=
SOC       ?=
MODE      ?= float32
OPTIONS   ?=
LAYOUT    ?= auto
OPSET     ?=
CALIB     ?= $(if $(filter int8,$(PRECISION)),$(PREP))
CALIB_COUNT ?= 48
CALIB_METHOD ?= entropy
# ACCEPT_MISMATCH=1: go on when PREP was preprocessed with another recipe than MODEL's (recorded in the run).
ACCEPT_MISMATCH ?=

VENV      ?= .venv
PYTHON    ?= $(VENV)/bin/python
# On machines without a package registry (GPU hosts) run with PYTHON=python3: no setup is attempted.
SETUP     := $(if $(filter $(VENV)/bin/python,$(PYTHON)),$(VENV)/.installed,)
# TensorFlow models (TF_MODEL=SavedModel dir, .keras/.h5 or frozen .pb with TF_INPUTS/TF_OUTPUTS) convert
# through tf2onnx in a separate environment: TensorFlow's pins differ from requirements.txt.
TF_MODEL  ?=
TF_INPUTS ?=
TF_OUTPUTS ?=
TF_VENV   ?= .venv-tf
TF_PYTHON ?= $(TF_VENV)/bin/python
TF_SETUP  := $(if $(SETUP),$(if $(filter $(TF_VENV)/bin/python,$(TF_PYTHON)),$(TF_VENV)/.installed,),)

# ASCEND_SIM=1 runs TARGET=ascend against the simulated atc/npu-smi/aclruntime in targets/ascend/sim under
# Huawei's real ais_bench front end from ../shared/upstream (ASCEND_SIM_API=2025 or 2023 picks the
# generation; 2024 is ait benchmark's runtime, which came without ais_bench's front end, so none is on the path);
# no Ascend hardware needed, see docs/ascend.md. The fake tools run under the first python3 on PATH.
ASCEND_SIM ?=
ASCEND_SIM_API ?= 2025
AIS_BENCH_TREE := $(if $(filter 2023,$(ASCEND_SIM_API)),2023-03,$(if $(filter 2025,$(ASCEND_SIM_API)),2025-12,))
ifneq ($(ASCEND_SIM),)
ifeq ($(filter 2023 2024 2025,$(ASCEND_SIM_API)),)
$(error ASCEND_SIM_API=$(ASCEND_SIM_API): the simulation has the generations 2023, 2024 (ait) and 2025; pick one of them)
endif
export ASCEND_SIM_API
export PATH := $(CURDIR)/targets/ascend/sim/bin:$(abspath $(dir $(PYTHON))):$(PATH)
export PYTHONPATH := $(CURDIR)/targets/ascend/sim$(if $(AIS_BENCH_TREE),:$(abspath $(CURDIR)/../shared/upstream/ais_bench/$(AIS_BENCH_TREE)))$(if $(PYTHONPATH),:$(PYTHONPATH))
export ASCEND_TOOLKIT_HOME ?= $(CURDIR)/targets/ascend/sim
endif

EMPTY     :=
SPACE     := $(EMPTY) $(EMPTY)
# Paths may hold spaces: recipes pass each one as a single shell word ($(call q,PATH), quoted where the shell
# would split or expand it); make's own path functions split words at spaces, so a space stands in as SPACE_MARK
# while they work on a path.
SHELL_SPECIALS := ' " $$ ; & | ( ) < > * ? [ ] ` \ \# ~ ! { }
needs_quotes = $(findstring $(SPACE),$(1))$(strip $(foreach c,$(SHELL_SPECIALS),$(findstring $(c),$(1))))
q         = $(if $(call needs_quotes,$(1)),'$(subst ','\'',$(1))',$(1))
SPACE_MARK := |harness-space|
path_name = $(subst $(SPACE_MARK),$(SPACE),$(notdir $(abspath $(subst $(SPACE),$(SPACE_MARK),$(1)))))
path_exists = $(if $(shell [ -e $(call q,$(1)) ] && echo y),$(1))
DATANAME  := $(call path_name,$(DATA))
PREP      := $(WORK)/prep/$(MODEL)-$(MODE)-$(DATANAME)
# BATCHES builds a dynamic artifact for that range; it is another artifact than the static BS one.
BATCHTAG  := bs$(BS)$(if $(strip $(BATCHES)),-b$(subst $(SPACE),_,$(strip $(BATCHES))))
# uint8 input for cpu / nvidia: the normalisation is inside the artifact, which therefore differs
UINT8_IN  := $(if $(and $(filter uint8,$(MODE)),$(filter cpu nvidia,$(TARGET))),-uint8)
MODELDIR  := $(WORK)/models/$(MODEL)/$(TARGET)-$(PRECISION)-$(BATCHTAG)$(if $(ENGINE),-$(ENGINE))$(UINT8_IN)
RESULTS   := $(WORK)/results
RUN       := $(MODEL)-$(TARGET)$(if $(ENGINE),-$(ENGINE))-$(PRECISION)-bs$(BS)$(UINT8_IN)-$(DATANAME)
MISMATCH_FLAG := $(if $(ACCEPT_MISMATCH),--accept-preprocess-mismatch)
TARGET_OPTIONS := $(if $(ENGINE),--option engine=$(ENGINE)) $(if $(SOC),--option soc_version=$(SOC)) \
                  $(foreach o,$(OPTIONS),--option $(call q,$(o)))

.PHONY: fleet one-image all setup tf-setup preprocess convert infer postprocess bench compare report calib-sweep bench-precision test clean
.DEFAULT_GOAL := all

all: preprocess convert infer postprocess

setup: $(SETUP)

$(VENV)/.installed: requirements.txt requirements-build.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q -r requirements-build.txt
	$(VENV)/bin/python -m pip install -q --no-deps --no-build-isolation -r requirements.txt
	touch $@

tf-setup: $(TF_VENV)/.installed

$(TF_VENV)/.installed: requirements-tf.txt
	python3 -m venv $(TF_VENV)
	$(TF_VENV)/bin/python -m pip install -q --no-deps -r requirements-tf.txt
	touch $@

preprocess: $(SETUP)
	$(PYTHON) -m preprocess --input $(call q,$(DATA)) --output $(call q,$(PREP)) --model $(call q,$(MODEL)) \
	  --mode $(MODE)

convert: $(SETUP) $(if $(TF_MODEL),$(TF_SETUP))
	$(PYTHON) -m convert --model $(call q,$(MODEL)) $(if $(CHECKPOINT),--checkpoint $(call q,$(CHECKPOINT))) \
	  --layout $(LAYOUT) $(if $(TF_MODEL),--tensorflow $(call q,$(TF_MODEL)) --tf-python $(call q,$(TF_PYTHON))) \
	  $(if $(TF_INPUTS),--tf-inputs $(TF_INPUTS)) $(if $(TF_OUTPUTS),--tf-outputs $(TF_OUTPUTS)) \
	  --target $(TARGET) --precision $(PRECISION) --batchsize $(BS) $(if $(BATCHES),--batches "$(BATCHES)") \
	  $(if $(CALIB),--calib $(call q,$(CALIB)) --calib-count $(CALIB_COUNT) --calib-method $(CALIB_METHOD)) \
	  $(if $(OPSET),--opset $(OPSET)) --preprocess $(call q,$(PREP)) --output $(call q,$(MODELDIR)) $(TARGET_OPTIONS) \
	  $(MISMATCH_FLAG)

infer: $(SETUP)
	$(PYTHON) -m infer --model $(call q,$(MODELDIR)) --input $(call q,$(PREP)) --output $(call q,$(RESULTS)) \
	  --output_dirname $(call q,$(RUN)) \
	  --outfmt $(OUTFMT) --batchsize $(BS) --device $(DEVICE) $(TARGET_OPTIONS) $(MISMATCH_FLAG)

postprocess: $(SETUP)
	$(PYTHON) -m postprocess --result $(call q,$(RESULTS)/$(RUN)) --labels $(call q,$(LABELS)) \
	  $(if $(CLASSES),--classes $(call q,$(CLASSES)))

# ---- throughput sweep, output parity, vendor report -------------------------------------------
# A static build (no BATCHES) takes its own batch size only, so its sweep is BS.
SWEEP      := $(or $(BATCHES),$(BS))
WARMUP     ?= 20
LOOP       ?= 200
TIME_LIMIT ?= 60
# --stable_ci acts with a time limit only (infer refuses it alone): a TIME_LIMIT of zero (0, 0.0, 0.) runs LOOP
# batches; anything else, numbers or not, goes to infer, which checks it
BENCH_TIME_LIMIT = $$(awk -v t=$(call q,$(TIME_LIMIT)) \
  'BEGIN { if (t + 0 != 0 || t !~ /^[0-9.]*$$/) printf "--time_limit %s --stable_ci 0.01", t }')
BENCH      := $(WORK)/bench/$(MODEL)/$(TARGET)$(if $(ENGINE),-$(ENGINE))-$(PRECISION)
REF_RUN    ?= $(MODEL)-cpu-fp32-bs$(BS)-$(DATANAME)
A          ?= $(RESULTS)/$(RUN)
B          ?= $(RESULTS)/$(REF_RUN)
COMPARE_OUT ?= $(WORK)/compare/$(call path_name,$(A))--vs--$(call path_name,$(B)).compare.json
PROFILE    ?=
# REPORT_INPUTS lists directories (split at spaces); without it, those of WORK that exist, WORK may hold spaces.
REPORT_INPUTS ?=
WORK_REPORT_INPUTS = $(foreach d,results bench compare calib-sweep,$(if $(call path_exists,$(WORK)/$(d)),\
                     $(call q,$(WORK)/$(d))))
REPORT     ?= report/out
BASELINE   ?=

# A batch size that does not fit in device memory (infer exit 8) is recorded as such in its summary's
# place and the sweep goes on; any other failure does not stop the sweep either, but fails the rule at the end.
bench: $(SETUP)
	@failed=""; oom=""; for bs in $(SWEEP); do \
	  $(PYTHON) -m infer --model $(call q,$(MODELDIR)) --batchsize $$bs --output $(call q,$(BENCH)) \
	    --output_dirname bs$$bs \
	    --warmup_count $(WARMUP) --loop $(LOOP) $(BENCH_TIME_LIMIT) \
	    --device $(DEVICE) $(TARGET_OPTIONS) --no-progress; rc=$$?; \
	  if [ $$rc -eq 8 ]; then oom="$$oom $$bs"; elif [ $$rc -ne 0 ]; then failed="$$failed $$bs"; fi; \
	done; \
	if [ -n "$$oom" ]; then echo "bench: out of memory at batch sizes:$$oom (recorded)" >&2; fi; \
	if [ -n "$$failed" ]; then echo "bench: failed at batch sizes:$$failed" >&2; exit 1; fi

# One image (or a few: IMAGE="a.jpg b.jpg") through every artifact built for MODEL, top-5 side by side.
IMAGE ?=
one-image: $(SETUP)
	$(PYTHON) -m infer.side_by_side --models $(call q,$(WORK)/models/$(MODEL)) \
	  --image $(foreach i,$(IMAGE),$(call q,$(i))) \
	  $(if $(call path_exists,$(PREP)/preprocess.json),--preprocess $(call q,$(PREP))) \
	  $(if $(CLASSES),--classes $(call q,$(CLASSES)))

compare: $(SETUP)
	$(PYTHON) -m report.compare --a $(call q,$(A)) --b $(call q,$(B)) --output $(call q,$(COMPARE_OUT)) \
	  $(if $(PROFILE),--tolerance-profile $(call q,$(PROFILE)))

report: $(SETUP)
	$(PYTHON) -m report --input $(if $(REPORT_INPUTS),$(or $(wildcard $(REPORT_INPUTS)),$(REPORT_INPUTS)),\
	  $(or $(strip $(WORK_REPORT_INPUTS)),$(call q,$(RESULTS)))) --output $(call q,$(REPORT)) \
	  $(if $(BASELINE),--baseline $(call q,$(BASELINE)))

# ---- fleet: every cell of a matrix file as a Ray task (RAY_ADDRESS joins a cluster, else Ray starts here) ----
MATRIX ?= fleet/examples/cpu.yaml

fleet: $(SETUP)
	$(PYTHON) -m fleet --matrix $(call q,$(MATRIX)) --work $(call q,$(WORK))

# ---- precision: calibration-count sweep and CPU int8/fp16 speed (run make preprocess convert first) ----
CALIB_COUNTS  ?= 50 100 200 500
CALIB_METHODS ?= $(CALIB_METHOD)
FP32_ONNX     := $(WORK)/models/$(MODEL)/cpu-fp32-$(BATCHTAG)/$(MODEL).sim.onnx
CALIB_SWEEP   := $(WORK)/calib-sweep/$(MODEL)-$(DATANAME)

calib-sweep: $(SETUP)
	$(PYTHON) -m convert.calib_sweep --onnx $(call q,$(FP32_ONNX)) --data $(call q,$(PREP)) --labels $(call q,$(LABELS)) \
	  --model $(call q,$(MODEL)) --counts $(CALIB_COUNTS) --methods $(CALIB_METHODS) --work $(call q,$(CALIB_SWEEP)) \
	  --out $(call q,$(CALIB_SWEEP)/calib_sweep.json)

bench-precision: $(SETUP)
	$(PYTHON) bench/precision_cpu.py --onnx $(call q,$(FP32_ONNX)) --calib $(call q,$(PREP)) --count $(CALIB_COUNT) \
	  --method $(CALIB_METHOD) --batch $(BS) --work $(call q,$(WORK)/bench-precision/$(MODEL)) \
	  --json $(call q,$(WORK)/bench-precision/$(MODEL)/precision_cpu.json)

# The TensorFlow tests run under HARNESS_TF_PYTHON (set here, so a missing environment fails them).
test: $(SETUP) $(TF_SETUP)
	$(if $(TF_SETUP),HARNESS_TF_PYTHON=$(abspath $(TF_PYTHON))) $(PYTHON) -m pytest -q tests

# The default WORK (./work, the checkout's own scratch directory, ignored by git) is removed whole. A WORK given on
# the command line must hold only what the stages write: anything else in it (WORK=. or a data directory given by
# mistake) is refused, not removed.
WORK_ENTRIES := prep models results bench compare calib-sweep bench-precision fleet
clean:
	@if [ -d $(call q,$(WORK)) ]; then \
	  others=$(if $(filter file,$(origin WORK)),,$$(ls -A $(call q,$(WORK)) \
	    | grep -vxF $(foreach e,$(WORK_ENTRIES),-e $(e)) | head -n 3 | paste -sd ' ')); \
	  if [ -n "$$others" ]; then \
	    echo "make clean: "$(call q,$(WORK))" holds files the harness did not write ($$others); nothing removed:" \
	      "remove it yourself, or pass WORK= the harness's work directory" >&2; exit 3; fi; \
	  rm -rf $(call q,$(WORK)); fi
