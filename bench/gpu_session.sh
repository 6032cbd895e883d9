#!/usr/bin/env bash
# The GPU measurements of docs/nvidia.md and docs/report, as run on a lent GPU machine whose image has
# torch, timm, onnx and onnxruntime but no package registry. Wheels it lacks travel in .whl/, the 1000
# sample images in two halves (.carry/img1, .carry/img2) because one transfer carries at most 64 MiB.
#   bash bench/gpu_session.sh stage img1     # copy a half of the images to /tmp/e2e_images
#   bash bench/gpu_session.sh e2e            # lite0 cpu / nvidia fp32 / fp16 on the 1000 images
#   bash bench/gpu_session.sh hostio         # the loop alone: null target, no wait and an emulated 7.3 ms device
#   bash bench/gpu_session.sh dataset        # SE-ResNeXt101 fp16 bs64: .bin in vs pure inference, --io both ways
#   bash bench/gpu_session.sh dataset-tmpfs  # the same with outputs on /dev/shm: the loop without the disk
#   bash bench/gpu_session.sh sweep [MODEL]  # make bench for the report: fp16, bs 1..64 (SE-ResNeXt101)
#   bash bench/gpu_session.sh multi          # infer --device 0,1 against --device 0
#   bash bench/gpu_session.sh cpu            # the CPU target on this host's cores: .bin in vs pure (docs/cpu.md)
#   bash bench/gpu_session.sh energy [MODEL...]  # docs/energy.md: NVML counter vs sampled power, fp16 bs 1/64/256
#   bash bench/gpu_session.sh gpu-tests [engine|rest]  # the GPU tests of tests/targets/nvidia (overlap, out of
#                                            # memory, engines); all of them compile packages for 10-13 minutes on
#                                            # an H200, more than one call: "engine" is test_torch_engine.py, "rest"
#                                            # the other files
#   bash bench/gpu_session.sh ceiling        # dataset mode vs the host's file ceiling, Lite0 bs256 float32/uint8
#   bash bench/gpu_session.sh aoti [MODEL...]  # AOTInductor package of the default variant's graph against the saved
#                                            # graph: compile time, speed, fresh processes' start (AOTI_BATCH, AOTI_ARGS;
#                                            # AOTI_TAG ends the files' names)
#   bash bench/gpu_session.sh aoti-loader     # where loading an AOTInductor package crashes: small packages and one
#                                            # model, loaded several ways, with a native fault handler and gdb
#   bash bench/gpu_session.sh precompile [MODEL]  # torch.compile().aot_compile: the same questions in a fresh process
#   bash bench/gpu_session.sh oom-idle       # a sweep with a batch that cannot fit, its report; a busy-GPU run
#   bash bench/gpu_session.sh threeway [MODEL...]  # harness vs eager+CUDA graph vs torch.compile, fp16 bs 1/64/256
#                                            # (THREEWAY_VARIANTS: harness rows, default ":" = the default variant;
#                                            #  THREEWAY_BATCHES: batch sizes, default "1 64 256";
#                                            #  THREEWAY_ROWS="--no-baseline": harness rows only)
#   bash bench/gpu_session.sh warm [MODEL...]  # cold and warm `infer` starts on an unchanged artifact, fp16 bs64
#   bash bench/gpu_session.sh startup-probe [MODEL]  # a warm start's steps below the harness (after `warm`)
#   bash bench/gpu_session.sh aside-probe [MODEL...]  # warm_aside's compute cost: warmed plans or the second thread
#                                            # (ASIDE_ARGS="--option-sets none variant=inductor-gemm": those sets instead)
#   bash bench/gpu_session.sh profile [MODEL] [BATCH]  # GPU time per kind of kernel: harness vs torch.compile
#                                            # (PROFILE_ARGS="--variant inductor-gemm": the harness's variant)
#   bash bench/gpu_session.sh conv-plans [MODEL] [BATCH]  # each convolution's first call (cuDNN's plan), fresh processes
#                                            # (CONV_ARGS="--home-unwritable": also without a writable ~/.nv)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu-out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
install_wheels() {
  if [ -d .whl ] && [ ! -f /tmp/site/.done ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    touch /tmp/site/.done
  fi
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
}
case "$1" in
  stage)
    mkdir -p /tmp/e2e_images && cp .carry/"$2"/* /tmp/e2e_images/ && ls /tmp/e2e_images | wc -l ;;
  e2e)
    install_wheels
    python3 bench/nvidia_e2e.py --images /tmp/e2e_images --labels /tmp/e2e_images/val_label.txt \
      --workdir /tmp/e2e --json "$OUT/nvidia_e2e.json"
    # run summaries + result.json of each run, for the report (the outputs themselves stay behind)
    (cd /tmp/e2e/results && tar -czf "$OUT/e2e_results.tar.gz" *_summary.json */result.json) ;;
  hostio)
    install_wheels
    python3 bench/loop_io.py --files 10240 --batch 64 --compute-ms 7.3 --rounds 2 --work /tmp/loopio \
      --json "$OUT/loop_io.json" ;;
  dataset)
    install_wheels
    python3 bench/nvidia_engine.py --precisions fp16 --batches 64 --variants "" --no-baseline --dataset 10240 \
      --io processes threads --workdir /tmp/nbd --json "$OUT/nvidia_dataset.json" ;;
  dataset-tmpfs)
    install_wheels
    python3 bench/nvidia_engine.py --precisions fp16 --batches 64 --variants "" --no-baseline --dataset 10240 \
      --io processes --dataset-results /dev/shm/nbd --workdir /tmp/nbd --json "$OUT/nvidia_dataset_tmpfs.json" ;;
  sweep)
    install_wheels
    model=${2:-seresnext101_32x4d}
    make -s preprocess convert bench PYTHON=python3 TARGET=nvidia MODEL="$model" PRECISION=fp16 BS=64 \
      BATCHES="1 4 8 16 32 64" WORK=/tmp/sweep WARMUP=10 LOOP=50 TIME_LIMIT=8 DATA=data/sample
    tar -C /tmp/sweep -czf "$OUT/sweep_$model.tar.gz" --exclude='*.pt2' --exclude='*.onnx' bench models ;;
  multi)
    install_wheels
    python3 bench/nvidia_engine.py --precisions fp16 --batches 64 --variants "" --no-baseline --multi-gpu 0,1 \
      --workdir /tmp/nbm --json "$OUT/nvidia_multi.json" ;;
  cpu)
    install_wheels
    python3 bench/cpu_target.py --skip-torch --sample /tmp/e2e_images --ort-threads 15 --targets cpu --repeats 9 \
      --work /tmp/cpub | tee "$OUT/cpu_target.txt" ;;
  energy)
    # one model at a time, each model's files written as soon as it is done; ENERGY_ARGS adds options
    # of bench/energy_gpu.py (e.g. "--time-limit 10 --pairs 0")
    install_wheels
    shift
    for m in ${@:-seresnext101_32x4d efficientnet_lite0}; do
      make -s preprocess convert PYTHON=python3 TARGET=nvidia MODEL="$m" PRECISION=fp16 BS=256 \
        BATCHES="1 64 256" WORK=/tmp/energy DATA=data/sample
      # shellcheck disable=SC2086
      python3 bench/energy_gpu.py --model-dir "/tmp/energy/models/$m/nvidia-fp16-bs256-b1_64_256" --batches 1 64 256 \
        --out /tmp/energy/bench --json "$OUT/energy_gpu_$m.json" ${ENERGY_ARGS:-} | tee "$OUT/energy_gpu_$m.txt"
      tar -C /tmp/energy -czf "$OUT/energy_summaries_$m.tar.gz" "bench/$m"
    done ;;
  gpu-tests)
    # GPU_TESTS: which tests (default: the part named, else all of tests/targets/nvidia), GPU_TESTS_TAG names the file
    install_wheels
    engine=tests/targets/nvidia/test_torch_engine.py
    case "${2:-all}" in
      engine) part=$engine ;;
      rest) part="tests/targets/nvidia --ignore=$engine" ;;
      all) part=tests/targets/nvidia ;;
      *) echo "gpu-tests: part engine or rest, not $2" >&2; exit 2 ;;
    esac
    # shellcheck disable=SC2086
    python3 -m pytest -q -rs -p no:cacheprovider --durations=10 -m nvidia ${GPU_TESTS:-$part} 2>&1 \
      | tee "$OUT/${GPU_TESTS_TAG:-gpu_tests_${2:-all}}.txt" ;;
  ceiling)
    # CEILING_ARGS adds or overrides options, e.g. "--forms uint8 --rounds 1"
    install_wheels
    # shellcheck disable=SC2086
    python3 bench/nvidia_dataset_ceiling.py --model tf_efficientnet_lite0 --batch 256 --files 40960 \
      --forms uint8 float32 --results /tmp/dc/results /dev/shm/dc --io-workers 16 --rounds 3 --bins-root /dev/shm/dc_bins \
      --json "$OUT/dataset_ceiling.json" ${CEILING_ARGS:-} | tee "$OUT/dataset_ceiling.txt" ;;
  precompile)
    install_wheels
    python3 bench/nvidia_precompile_probe.py --model "${2:-tf_efficientnet_lite0}" --batch 64 --json "$OUT/precompile_probe.json" ;;
  aoti)
    install_wheels
    shift
    for m in ${@:-seresnext101_32x4d}; do
      # shellcheck disable=SC2086
      python3 bench/nvidia_aoti_probe.py --model "$m" --batch "${AOTI_BATCH:-64}" ${AOTI_ARGS:-} \
        --json "$OUT/aoti_probe_$m${AOTI_TAG:-}.json" 2>&1 | tee "$OUT/aoti_probe_$m${AOTI_TAG:-}.txt"
    done ;;
  aoti-loader)
    # AOTI_LOADER_ARGS adds options of bench/nvidia_aoti_loader_probe.py (e.g. "--packages mm model:resnet50"),
    # AOTI_LOADER_TAG names the files
    install_wheels
    tag=${AOTI_LOADER_TAG:-aoti_loader_probe}
    # shellcheck disable=SC2086
    python3 bench/nvidia_aoti_loader_probe.py --json "$OUT/$tag.json" --workdir "/tmp/$tag" ${AOTI_LOADER_ARGS:-} \
      2>&1 | tee "$OUT/$tag.txt" ;;
  oom-idle)
    # resnet50 fp16 uint8 input, bs 64 and 65536 (more activation memory than the GPU has); then a run
    # while another process keeps the GPU busy, to show the idle check's warning
    install_wheels
    make -s preprocess convert bench PYTHON=python3 TARGET=nvidia MODEL=resnet50 PRECISION=fp16 MODE=uint8 BS=64 \
      BATCHES="64 65536" WORK=/tmp/oom WARMUP=5 LOOP=50 TIME_LIMIT=5 DATA=data/sample 2>&1 | tee "$OUT/oom_sweep.txt" || true
    python3 -m report --input /tmp/oom/bench --output /tmp/oom/report 2>&1 | tail -3
    python3 -c "import torch,time; x=torch.randn(8192,8192,device='cuda'); t=time.time()
while time.time()-t<90: x=x@x; x=x/x.norm()" & burner=$!
    sleep 15
    python3 -m infer --model /tmp/oom/models/resnet50/nvidia-fp16-bs64-b64_65536-uint8 --batchsize 64 --loop 20 \
      --output /tmp/oom/busy --output_dirname bs64 --no-progress 2>&1 | tee "$OUT/busy_run.txt" || true
    kill $burner || true
    tar -C /tmp/oom -czf "$OUT/oom_idle.tar.gz" bench report busy/bs64_summary.json ;;
  threeway)
    install_wheels
    shift
    read -r -a variants <<< "${THREEWAY_VARIANTS:-:}"  # ":" is the default variant, ":precompile=0" another row
    for m in ${@:-seresnext101_32x4d resnet50 tf_efficientnet_lite0}; do
      # shellcheck disable=SC2086
      python3 bench/nvidia_engine.py --model "$m" --batches ${THREEWAY_BATCHES:-1 64 256} --precisions ${THREEWAY_PRECISIONS:-fp16} \
        --variants "${variants[@]}" ${THREEWAY_ROWS:---torch-compile} \
        --workdir "/tmp/three_$m" --json "$OUT/threeway_$m.json" 2>&1 | tee "$OUT/threeway_$m.txt"
    done ;;
  warm)
    # WARM_ARGS adds options of bench/nvidia_warm_start.py (e.g. "--warm-runs 2 --profile-warm"; the default
    # package form beside inductor's: "--warm-runs 3 --option-sets none saved_graph=inductor")
    install_wheels
    shift
    tag=${WARM_TAG:-warm_start}
    # shellcheck disable=SC2086
    python3 bench/nvidia_warm_start.py --models ${@:-tf_efficientnet_lite0 resnet50 seresnext101_32x4d} --batch 64 \
      --json "$OUT/$tag.json" ${WARM_ARGS:-} 2>&1 | tee "$OUT/$tag.txt" ;;
  startup-probe)
    # needs the compile cache a `warm` run of the model left
    install_wheels
    model=${2:-tf_efficientnet_lite0}
    cache=$(dirname "$(find "/tmp/nvidia_warm/$model" -name weights.pt | head -1)")
    python3 bench/nvidia_startup_probe.py --cache "$cache" --batch 64 --json "$OUT/startup_probe_$model.json" 2>&1 \
      | tee "$OUT/startup_probe_$model.txt" ;;
  aside-probe)
    install_wheels
    shift
    # shellcheck disable=SC2086
    python3 bench/nvidia_aside_probe.py --models ${@:-tf_efficientnet_lite0 seresnext101_32x4d} --loop 1000 --runs 2 --kernels \
      --json "$OUT/aside_probe.json" ${ASIDE_ARGS:-} 2>&1 | tee "$OUT/aside_probe.txt" ;;
  profile)
    install_wheels
    # shellcheck disable=SC2086
    python3 bench/nvidia_kernel_profile.py --model "${2:-seresnext101_32x4d}" --batch "${3:-64}" ${PROFILE_ARGS:-} \
      --json "$OUT/kernel_profile_${2:-seresnext101_32x4d}.json" 2>&1 | tee "$OUT/kernel_profile_${2:-seresnext101_32x4d}.txt" ;;
  conv-plans)
    install_wheels
    # shellcheck disable=SC2086
    python3 bench/nvidia_conv_plans.py --model "${2:-tf_efficientnet_lite0}" --batch "${3:-64}" --cudnn-log /tmp/cudnn_log \
      ${CONV_ARGS:-} --json "$OUT/conv_plans_${2:-tf_efficientnet_lite0}.json" 2>&1 | tee "$OUT/conv_plans_${2:-tf_efficientnet_lite0}.txt"
    gzip -c /tmp/cudnn_log/cudnn.log > "$OUT/cudnn_log_${2:-tf_efficientnet_lite0}.log.gz" ;;
  *) echo "usage: $0 stage DIR | e2e | hostio | dataset | dataset-tmpfs | sweep [MODEL] | multi | cpu | energy [MODEL...] | gpu-tests [engine|rest] | ceiling | aoti [MODEL] | aoti-loader | precompile [MODEL] | oom-idle | threeway [MODEL...] | warm [MODEL...] | startup-probe [MODEL] | aside-probe [MODEL...] | profile [MODEL] [BATCH] | conv-plans [MODEL] [BATCH]" >&2; exit 2 ;;
esac
