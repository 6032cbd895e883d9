#!/usr/bin/env bash
# Rebuilds docs/report-example: CPU measurements made here, the simulated Ascend accuracy, the H100
# sweep from bench/gpu_session.sh (its summary.json files are kept under docs/report-example/inputs),
# and the published reference rows. The GPU energy runs of `bench/gpu_session.sh energy` go in the same
# way: unpack its energy_summaries_<models>.tar.gz under docs/report-example/inputs/.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${WORK:-work/example}
DATA=${DATA:-../shared/data/imagenet-sample}
M="make -s WORK=$WORK DATA=$DATA"
# accuracy, efficientnet_lite0 on the 1000 sample images: CPU, and the simulated Ascend runtime
$M preprocess convert infer postprocess TARGET=cpu BS=16
$M convert infer postprocess TARGET=ascend ASCEND_SIM=1 SOC=Ascend310P3 BS=16 PRECISION=fp32
$M convert infer postprocess TARGET=ascend ASCEND_SIM=1 SOC=Ascend310P3 BS=16 PRECISION=fp16
# throughput sweeps on this CPU
$M convert bench TARGET=cpu MODEL=efficientnet_lite0 BS=16 BATCHES="1 8 16" WARMUP=3 LOOP=20 TIME_LIMIT=10
$M preprocess convert bench TARGET=cpu MODEL=seresnext101_32x4d BS=8 BATCHES="1 4 8" WARMUP=2 LOOP=8 TIME_LIMIT=15
$M report REPORT_INPUTS="$WORK/results $WORK/bench docs/report-example/inputs" REPORT=docs/report-example \
  BASELINE="${BASELINE:-}"
